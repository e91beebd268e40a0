/*
 * The graph view: the scope's CIs with their containment (tenancy / compartment -> CI) and
 * dependencies (DEPENDS_ON), drawn by cytoscape.js on a canvas. `explorerGraph.load` reads the
 * scope page by page (up to MAX_NODES); the `sky-graph` directive keeps one cytoscape instance and
 * applies each new element list as a difference, so a live change adds, removes or relabels nodes
 * without redrawing the whole picture.
 */
(function (angular) {
  'use strict';

  var MAX_PAGES = 5;          // 100 CIs a page
  var STYLE = [
    { selector: 'node', style: {
      'label': 'data(label)', 'font-size': 10, 'text-valign': 'bottom', 'text-margin-y': 4,
      'background-color': '#6b7c93', 'width': 22, 'height': 22, 'color': '#1f2933'
    } },
    { selector: 'node[kind = "Tenancy"]', style: { 'background-color': '#3b5bdb', 'shape': 'round-rectangle', 'width': 34 } },
    { selector: 'node[kind = "Compartment"]', style: { 'background-color': '#7048e8', 'shape': 'round-rectangle', 'width': 30 } },
    { selector: 'node:selected', style: { 'border-width': 3, 'border-color': '#f08c00' } },
    { selector: 'edge', style: { 'width': 1.5, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'arrow-scale': 0.8 } },
    { selector: 'edge[type = "CONTAINS"]', style: { 'line-color': '#ced4da', 'target-arrow-color': '#ced4da' } },
    { selector: 'edge[type = "DEPENDS_ON"]', style: { 'line-color': '#e8590c', 'target-arrow-color': '#e8590c', 'line-style': 'dashed' } }
  ];

  function node(ci) {
    return { group: 'nodes', data: { id: ci.id, label: ci.name, kind: ci.kind, displayKind: ci.displayKind } };
  }

  function edge(type, source, target) {
    return { group: 'edges', data: { id: type + ':' + source + '>' + target, type: type, source: source, target: target } };
  }

  angular.module('skyloom')
    .factory('explorerGraph', ['$q', 'graphql', function ($q, graphql) {
      function pages(filter, after, found, left) {
        return graphql.query('ExplorerGraph', { filter: filter, after: after }).then(function (data) {
          found = found.concat(data.cis.edges.map(function (e) { return e.node; }));
          var more = data.cis.pageInfo.hasNextPage;
          if (more && left > 1) { return pages(filter, data.cis.pageInfo.endCursor, found, left - 1); }
          return { cis: found, truncated: more };
        });
      }

      return {
        /** Elements for cytoscape: `root` (the tenancy or compartment in view) and its CIs. */
        load: function (filter, root) {
          return pages(filter, null, [], MAX_PAGES).then(function (result) {
            var ids = {}, elements = [node(root)], edges = [];
            ids[root.id] = true;
            result.cis.forEach(function (ci) {
              if (!ids[ci.id]) { ids[ci.id] = true; elements.push(node(ci)); }
            });
            result.cis.forEach(function (ci) {
              if (ci.id === root.id) { return; }
              var parent = ci.compartment ? ci.compartment.id : (ci.tenancy && ci.tenancy.id);
              if (parent && ids[parent]) { edges.push(edge('CONTAINS', parent, ci.id)); }
              (ci.neighbours || []).forEach(function (rel) {
                if (ids[rel.node.id]) { edges.push(edge('DEPENDS_ON', ci.id, rel.node.id)); }
              });
            });
            return { elements: elements.concat(edges), truncated: result.truncated };
          });
        }
      };
    }])
    .directive('skyGraph', ['$window', function ($window) {
      return {
        restrict: 'E',
        scope: { elements: '<', selected: '<', root: '<', onSelect: '&' },
        template: '<div class="graph-canvas" role="img" aria-label="Graph of configuration items"></div>',
        link: function (scope, element) {
          var container = element[0].querySelector('.graph-canvas');
          var cy = $window.cytoscape({
            container: container, elements: [], style: STYLE, layout: { name: 'preset' },
            minZoom: 0.2, maxZoom: 1.5, boxSelectionEnabled: false
          });

          function layout() {
            var roots = scope.root ? cy.getElementById(scope.root) : undefined;
            cy.layout({ name: 'breadthfirst', directed: true, roots: roots, spacingFactor: 1.1, padding: 20, animate: false }).run();
          }

          function update(elements) {
            var wanted = {}, changed = false;
            (elements || []).forEach(function (el) { wanted[el.data.id] = el; });
            cy.batch(function () {
              cy.elements().forEach(function (el) {
                if (!wanted[el.id()]) { cy.remove(el); changed = true; }
              });
              var added = [];
              Object.keys(wanted).forEach(function (id) {
                var existing = cy.getElementById(id);
                if (existing.length) { existing.data(wanted[id].data); } else { added.push(wanted[id]); }
              });
              // Nodes before edges, so every edge finds its ends.
              added.sort(function (a, b) { return a.group === b.group ? 0 : (a.group === 'nodes' ? -1 : 1); });
              if (added.length) { cy.add(added); changed = true; }
            });
            if (changed) { layout(); }
            select(scope.selected);
          }

          function select(id) {
            cy.$(':selected').unselect();
            if (id) { cy.getElementById(id).select(); }
          }

          cy.on('tap', 'node', function (event) {
            var id = event.target.id();
            scope.$applyAsync(function () { scope.onSelect({ id: id }); });
          });
          scope.$watch('elements', update);
          scope.$watch('selected', select);
          scope.$on('$destroy', function () { cy.destroy(); });
        }
      };
    }]);
})(window.angular);
