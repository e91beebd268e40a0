/*
 * The planner's drawing surface: one cytoscape.js instance that mirrors the design document. The
 * controller owns the document and bumps `revision` after each edit; the surface then applies the
 * difference (adds, removes, renames, moves), so the picture never jumps. Problems, components found
 * in the CMDB and the connect mode's source are classes; styling goes through cytoscape's style API
 * (the CSP forbids inline styles, and cytoscape.css stops cytoscape from injecting its own).
 */
(function (angular) {
  'use strict';

  var COLOURS = {
    Tenancy: '#3b5bdb', Compartment: '#7048e8', Network: '#1098ad', Subnet: '#15aabf',
    ComputeInstance: '#e67700', Database: '#c2255c', ObjectStore: '#5c940d', Identity: '#495057'
  };
  var STYLE = [
    { selector: 'node', style: {
      'label': 'data(label)', 'text-wrap': 'wrap', 'text-max-width': 150, 'font-size': 10, 'text-valign': 'bottom',
      'text-margin-y': 5, 'shape': 'round-rectangle', 'width': 44, 'height': 28, 'background-color': '#868e96',
      'border-width': 2, 'border-color': '#ffffff', 'color': '#1f2933'
    } },
    { selector: 'node:selected', style: { 'border-style': 'double', 'border-width': 7, 'border-color': '#f08c00' } },
    { selector: 'node.connect-source', style: { 'border-style': 'dashed', 'border-width': 4, 'border-color': '#3b5bdb' } },
    { selector: 'node.has-warning', style: { 'border-color': '#e8590c', 'border-width': 4 } },
    { selector: 'node.has-error', style: { 'border-color': '#c92a2a', 'border-width': 4 } },
    { selector: 'node.found', style: { 'underlay-color': '#2b8a3e', 'underlay-padding': 7, 'underlay-opacity': 0.35 } },
    { selector: 'edge', style: {
      'width': 2, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'arrow-scale': 0.9,
      'line-color': '#adb5bd', 'target-arrow-color': '#adb5bd'
    } },
    { selector: 'edge:selected', style: { 'line-color': '#f08c00', 'target-arrow-color': '#f08c00', 'width': 4 } },
    { selector: 'edge.has-warning', style: { 'line-color': '#e8590c', 'target-arrow-color': '#e8590c', 'line-style': 'dashed' } },
    { selector: 'edge.has-error', style: { 'line-color': '#c92a2a', 'target-arrow-color': '#c92a2a', 'line-style': 'dashed' } }
  ].concat(Object.keys(COLOURS).map(function (kind) {
    return { selector: 'node[kind = "' + kind + '"]', style: { 'background-color': COLOURS[kind] } };
  }));

  function num(value, fallback) { return typeof value === 'number' && isFinite(value) ? value : fallback; }

  /** The cytoscape elements a document draws (components with unusable ids are left out: the server says why). */
  function elementsOf(doc, terms) {
    var wanted = {}, order = [];
    (doc.components || []).forEach(function (c, i) {
      if (!c || typeof c.id !== 'string' || !c.id || wanted[c.id]) { return; }
      var label = (typeof c.name === 'string' && c.name ? c.name : '(unnamed)') + '\n' + ((terms && terms[c.kind]) || c.kind);
      wanted[c.id] = { group: 'nodes', data: { id: c.id, kind: c.kind, label: label },
                       position: { x: num(c.x, 80 + 40 * i), y: num(c.y, 60) } };
      order.push(c.id);
    });
    (doc.connections || []).forEach(function (k, i) {
      if (!k || !wanted[k.from] || !wanted[k.to] || wanted[k.from].group !== 'nodes' || wanted[k.to].group !== 'nodes') { return; }
      var id = 'e' + i + ':' + k.from + '>' + k.to;
      wanted[id] = { group: 'edges', data: { id: id, source: k.from, target: k.to, index: i } };
      order.push(id);
    });
    return { byId: wanted, order: order };
  }

  angular.module('skyloom').directive('skyPlannerCanvas', ['$window', function ($window) {
    return {
      restrict: 'E',
      scope: { document: '<', revision: '<', terms: '<', marks: '<', found: '<', source: '<', selected: '<',
               readOnly: '<', onSelect: '&', onMove: '&', onBackground: '&' },
      template: '<div class="graph-canvas planner-canvas" role="application" aria-label="Design canvas"></div>',
      link: function (scope, element) {
        var container = element[0].querySelector('.planner-canvas');
        var cy = $window.cytoscape({
          container: container, elements: [], style: STYLE, layout: { name: 'preset' },
          minZoom: 0.25, maxZoom: 2, boxSelectionEnabled: false, selectionType: 'single'
        });
        var fitted = false;

        function fit() {
          if (!cy.nodes().length) { return; }
          cy.fit(undefined, 50);
          if (cy.zoom() > 1) { cy.zoom(1); cy.center(); }
        }

        /** Is any of the node (its label included) out of view? */
        function outside(node) {
          var view = cy.extent(), box = node.boundingBox({ includeLabels: true });
          return box.x1 < view.x1 || box.x2 > view.x2 || box.y1 < view.y1 || box.y2 > view.y2;
        }

        function sync() {
          if (!scope.document) { return; }
          var wanted = elementsOf(scope.document, scope.terms).byId, added = [];
          cy.batch(function () {
            cy.elements().forEach(function (el) { if (!wanted[el.id()]) { cy.remove(el); } });
            Object.keys(wanted).forEach(function (id) {
              var want = wanted[id], existing = cy.getElementById(id);
              if (!existing.length) { added.push(want); return; }
              if (existing.data('label') !== want.data.label) { existing.data('label', want.data.label); }
              if (existing.data('kind') !== want.data.kind) { existing.data('kind', want.data.kind); }
              if (want.group === 'nodes' && !existing.grabbed()) {
                var p = existing.position();
                var moved = Math.abs(p.x - want.position.x) > 0.5 || Math.abs(p.y - want.position.y) > 0.5;
                if (moved) { existing.position(want.position); }
              }
            });
            added.sort(function (a, b) { return a.group === b.group ? 0 : (a.group === 'nodes' ? -1 : 1); });
            if (added.length) { cy.add(added); }
          });
          paint();
          select(scope.selected);
          var fresh = added.filter(function (a) { return a.group === 'nodes'; });
          if (!fitted || fresh.some(function (a) { return outside(cy.getElementById(a.data.id)); })) { fit(); fitted = true; }
        }

        function paint() {
          var marks = scope.marks || { nodes: {}, edges: {} }, found = scope.found || {};
          cy.batch(function () {
            cy.nodes().forEach(function (n) {
              var id = n.id(), classes = [];
              if (marks.nodes[id]) { classes.push('has-' + marks.nodes[id]); }
              if (found[id]) { classes.push('found'); }
              if (scope.source === id) { classes.push('connect-source'); }
              n.classes(classes);
            });
            cy.edges().forEach(function (e) {
              var severity = marks.edges[e.data('index')];
              e.classes(severity ? ['has-' + severity] : []);
            });
          });
        }

        function select(key) {
          cy.$(':selected').unselect();
          if (!key) { return; }
          if (key.indexOf('n:') === 0) { cy.getElementById(key.slice(2)).select(); }
          if (key.indexOf('e:') === 0) { cy.edges('[index = ' + Number(key.slice(2)) + ']').select(); }
        }

        function call(fn, locals) { scope.$applyAsync(function () { fn(locals); }); }

        cy.on('tap', 'node', function (event) { call(scope.onSelect, { key: 'n:' + event.target.id() }); });
        cy.on('tap', 'edge', function (event) { call(scope.onSelect, { key: 'e:' + event.target.data('index') }); });
        cy.on('tap', function (event) { if (event.target === cy) { call(scope.onBackground, {}); } });
        cy.on('dragfree', 'node', function (event) {
          var p = event.target.position();
          call(scope.onMove, { id: event.target.id(), x: p.x, y: p.y });
        });

        scope.$watchGroup(['document', 'revision', 'terms'], sync);
        scope.$watchGroup(['marks', 'found', 'source'], paint);
        scope.$watch('selected', select);
        scope.$watch('readOnly', function (readOnly) { cy.autoungrabify(!!readOnly); });
        scope.$on('$destroy', function () { cy.destroy(); });
      }
    };
  }]);
})(window.angular);
