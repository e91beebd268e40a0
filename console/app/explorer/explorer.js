/*
 * The CMDB explorer: tenancies -> compartments -> configuration items, a search over them (kind,
 * cloud, name text), the selected CI's detail, a graph of the scope, and live changes. The scope
 * and selection live in the URL (#!/explorer?tenancy=..&compartment=..&ci=..&view=graph), so a
 * view can be linked and survives a reload.
 */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'explorer', path: '/explorer', title: 'CMDB explorer', section: 'CMDB', order: 1,
        templateUrl: 'app/explorer/explorer.html', controller: 'ExplorerController',
        requires: ['Compartment'], reloadOnSearch: false
      });
    }])
    .controller('ExplorerController', ['$scope', '$location', '$q', 'graphql', 'explorerGraph', 'explorerLive',
      function ($scope, $location, $q, graphql, explorerGraph, explorerLive) {
        var vm = this;
        var written = null;         // the URL this page last wrote (its own changes are no news)
        vm.kinds = [];
        vm.clouds = [];
        vm.tenancies = [];
        vm.tenancyPage = null;
        vm.tenancy = null;          // the selected tenancy (with its compartment tree)
        vm.compartment = null;      // the selected compartment, if any
        vm.tree = [];
        vm.cis = [];
        vm.ciPage = null;
        vm.total = null;
        vm.selectedId = null;       // the CI (tenancy, compartment or resource) in the detail panel
        vm.detailRevision = 0;
        vm.graph = { elements: [], truncated: false, loading: false };
        vm.error = null;
        vm.live = explorerLive.start($scope, vm);

        function fail(failure) { vm.error = failure.message; }

        /** Only the newest request of each kind may fill the page: a slow answer to an older one
            (say the unfiltered list, when a search followed at once) is dropped. */
        var asked = {};
        function newest(kind, promise) {
          var ticket = asked[kind] = (asked[kind] || 0) + 1;
          return promise.then(function (data) {
            if (ticket !== asked[kind]) { return $q.reject({ stale: true }); }
            return data;
          });
        }
        function forget(kind) { asked[kind] = (asked[kind] || 0) + 1; }
        function failUnlessStale(failure) { if (!failure.stale) { fail(failure); } }

        /** The API lists parents before children; show each compartment right under its parent. */
        function nested(entries) {
          var ids = {}, children = {}, roots = [], out = [];
          entries.forEach(function (e) { ids[e.compartment.id] = true; });
          entries.forEach(function (e) {
            if (!children[e.parentId]) {
              children[e.parentId] = [];
              if (!ids[e.parentId]) { roots.push(e.parentId); }
            }
            children[e.parentId].push(e);
          });
          function walk(id) {
            (children[id] || []).forEach(function (e) { out.push(e); walk(e.compartment.id); });
          }
          roots.forEach(walk);
          return out;
        }

        function syncUrl() {
          if ($location.path() !== '/explorer') { return; }   // e.g. a 401 just sent the user to sign in
          written = $location.search({
            tenancy: vm.tenancy ? vm.tenancy.id : null, compartment: vm.compartment ? vm.compartment.id : null,
            ci: vm.selectedId, view: vm.view === 'graph' ? 'graph' : null,
            q: vm.filter.text || null, kind: vm.filter.kind || null, cloud: vm.filter.cloud || null
          }).replace().url();
        }

        /** Take the scope, selection, view and filters from the URL (on start, and when a link or
            the address bar changes them while the page is open). */
        function fromUrl() {
          var url = $location.search();
          vm.filter = { text: url.q || '', kind: url.kind || null, cloud: url.cloud || null };
          vm.view = url.view === 'graph' ? 'graph' : 'list';
          vm.selectedId = url.ci || url.compartment || url.tenancy || null;
          vm.tenancy = url.tenancy ? { id: url.tenancy } : null;
          vm.compartment = url.tenancy && url.compartment ? { id: url.compartment } : null;
          return vm.loadTree().then(vm.refresh);
        }

        vm.ciFilter = function () {
          var filter = {};
          if (vm.tenancy) { filter.tenancyId = vm.tenancy.id; }
          if (vm.compartment) { filter.compartmentId = vm.compartment.id; }
          if (vm.filter.kind) { filter.kinds = [vm.filter.kind]; }
          if (vm.filter.cloud) { filter.providers = [vm.filter.cloud]; }
          if (vm.filter.text) { filter.text = vm.filter.text; }
          return filter;
        };

        vm.loadTenancies = function (more) {
          var page = graphql.query('ExplorerTenancies', { after: more ? vm.tenancyPage.endCursor : null });
          return newest('tenancies', page).then(function (data) {
            var nodes = data.tenancies.edges.map(function (e) { return e.node; });
            vm.tenancies = more ? vm.tenancies.concat(nodes) : nodes;
            vm.tenancyPage = data.tenancies.pageInfo;
          }).catch(failUnlessStale);
        };

        vm.loadTree = function () {
          if (!vm.tenancy) { forget('tree'); vm.tree = []; return $q.resolve(); }
          return newest('tree', graphql.query('ExplorerTree', { tenancyId: vm.tenancy.id })).then(function (data) {
            if (!data.tenancy) { vm.error = 'That tenancy is not visible to you.'; vm.tenancy = null; vm.tree = []; return; }
            vm.tenancy = data.tenancy;
            vm.tree = nested(data.tenancy.compartmentTree);
            if (vm.compartment) { vm.compartment = vm.compartmentById(vm.compartment.id) || null; }
          }).catch(failUnlessStale);
        };

        vm.loadCis = function (more) {
          var after = more && vm.ciPage ? vm.ciPage.endCursor : null;
          return newest('cis', graphql.query('ExplorerCis', { filter: vm.ciFilter(), after: after })).then(function (data) {
            var nodes = data.cis.edges.map(function (e) { return e.node; });
            vm.cis = more ? vm.cis.concat(nodes) : nodes;
            vm.ciPage = data.cis.pageInfo;
            vm.total = data.cis.totalCount;
          }).catch(failUnlessStale);
        };

        vm.loadGraph = function () {
          if (vm.view !== 'graph' || !vm.tenancy) {
            forget('graph');
            vm.graph.elements = [];
            vm.graph.loading = false;
            return $q.resolve();
          }
          var root = vm.compartment || vm.tenancy;
          vm.graph.loading = true;
          return newest('graph', explorerGraph.load(vm.ciFilter(), root)).then(function (graph) {
            vm.graph.elements = graph.elements;
            vm.graph.truncated = graph.truncated;
            vm.graph.loading = false;
          }).catch(function (failure) {
            if (!failure.stale) { vm.graph.loading = false; fail(failure); }
          });
        };

        /** Everything that shows the scope, again (after a change of scope, filters or data). */
        vm.refresh = function () {
          vm.error = null;
          syncUrl();
          return $q.all([vm.loadCis(false), vm.loadGraph()]);
        };

        vm.compartmentById = function (id) {
          for (var i = 0; i < vm.tree.length; i++) {
            if (vm.tree[i].compartment.id === id) { return vm.tree[i].compartment; }
          }
          return null;
        };

        /** The path from the tenancy down to the selected compartment, for the breadcrumb. */
        vm.path = function () {
          var path = [], current = vm.compartment;
          while (current) {
            path.unshift(current);
            current = current.compartment ? vm.compartmentById(current.compartment.id) : null;
          }
          return path;
        };

        vm.selectTenancy = function (tenancy) {
          vm.tenancy = tenancy;
          vm.compartment = null;
          vm.selectedId = tenancy ? tenancy.id : null;
          vm.tree = [];
          return vm.loadTree().then(vm.refresh);
        };

        vm.selectCompartment = function (compartment) {
          vm.compartment = compartment;
          vm.selectedId = compartment ? compartment.id : (vm.tenancy && vm.tenancy.id);
          return vm.refresh();
        };

        vm.selectCi = function (id) {
          vm.selectedId = id;
          syncUrl();
        };

        vm.setView = function (view) {
          vm.view = view;
          vm.refresh();
        };

        vm.search = function () { return vm.refresh(); };
        vm.clearFilters = function () {
          vm.filter = { text: '', kind: null, cloud: null };
          return vm.refresh();
        };

        // Start: the filter vocabularies and the change feed's position (so the live stream misses
        // nothing that happens after these lists are read), then the lists of the URL's scope.
        graphql.query('ExplorerStart').then(function (data) {
          vm.kinds = data.kinds.enumValues.map(function (v) { return v.name; });
          vm.clouds = data.clouds.enumValues.map(function (v) { return v.name; });
          vm.live.follow(data.changeFeedPosition);
          return $q.all([vm.loadTenancies(false), fromUrl()]);
        }, fail);

        $scope.$on('$routeUpdate', function () {
          if ($location.url() !== written) { fromUrl(); }
        });
      }]);
})(window.angular);
