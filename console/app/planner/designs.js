/*
 * The planner's list: designs per client with their cloud, latest version and its problem counts;
 * create a design (client, cloud, name), open one on the canvas, copy or archive it. `?client=` narrows
 * the list to one client (the Clients page links here that way).
 */
(function (angular) {
  'use strict';

  var CLOUDS = ['AWS', 'AZURE', 'GCP', 'OCI'];

  angular.module('skyloom')
    .constant('plannerClouds', CLOUDS)
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'planner', path: '/planner', title: 'Planner', section: 'CMDB', order: 21,
        templateUrl: 'app/planner/designs.html', controller: 'PlannerDesignsController', requires: ['Design'],
        reloadOnSearch: false
      });
    }])
    .factory('plannerClients', ['graphql', function (graphql) {
      /** Every client the viewer may see, for choices and names (cursor pages of 100). */
      return function () {
        var out = [];
        function page(after) {
          return graphql.query('PlannerTenants', { after: after }).then(function (data) {
            out = out.concat(data.tenants.edges.map(function (e) { return e.node; }));
            return data.tenants.pageInfo.hasNextPage && out.length < 1000 ? page(data.tenants.pageInfo.endCursor) : out;
          });
        }
        return page(null);
      };
    }])
    .controller('PlannerDesignsController', ['$location', '$q', 'graphql', 'auth', 'plannerClients',
      function ($location, $q, graphql, auth, plannerClients) {
        var vm = this;
        vm.clouds = CLOUDS;
        vm.clients = [];
        vm.names = {};
        vm.designs = [];
        vm.page = null;
        vm.error = null;
        vm.filter = { clientId: $location.search().client || null, includeArchived: false };
        vm.form = { tenantId: vm.filter.clientId, cloud: 'AWS', name: '' };
        vm.mayWrite = auth.can('Design', 'write');

        plannerClients().then(function (clients) {
          vm.clients = clients;
          clients.forEach(function (c) { vm.names[c.id] = c.displayName || c.name; });
          if (!vm.form.tenantId && clients.length) { vm.form.tenantId = clients[0].id; }
        }, function (failure) { vm.error = failure.message; });

        vm.load = function (more) {
          vm.loading = true;
          vm.error = null;
          var variables = { tenantId: vm.filter.clientId || null, after: more ? vm.page.endCursor : null,
                            includeArchived: vm.filter.includeArchived };
          return graphql.query('PlannerDesigns', variables).then(function (data) {
            var nodes = data.designs.edges.map(function (e) { return e.node; });
            vm.designs = more ? vm.designs.concat(nodes) : nodes;
            vm.page = data.designs.pageInfo;
          }, function (failure) { vm.error = failure.message; }).finally(function () { vm.loading = false; });
        };

        vm.filterChanged = function () {
          $location.search('client', vm.filter.clientId || null).replace();
          if (vm.filter.clientId) { vm.form.tenantId = vm.filter.clientId; }
          vm.load(false);
        };

        function change(form, name, variables, field) {
          form.busy = true;
          form.error = null;
          return graphql.mutate(name, variables).then(function (data) { return graphql.outcome(data[field]); })
            .catch(function (failure) { form.error = failure.message; return $q.reject(failure); })
            .finally(function () { form.busy = false; });
        }

        vm.create = function () {
          var input = { tenantId: vm.form.tenantId, cloud: vm.form.cloud, name: vm.form.name };
          return change(vm.form, 'PlannerDesignCreate', { input: input }, 'designCreate').then(function (design) {
            $location.path('/planner/' + design.id).search({});
          });
        };

        vm.startCopy = function (design) {
          design.copy = { name: design.name + '-copy', tenantId: design.tenantId };
        };

        vm.copy = function (design) {
          var input = { id: design.id, name: design.copy.name };
          if (design.copy.tenantId && design.copy.tenantId !== design.tenantId) { input.tenantId = design.copy.tenantId; }
          return change(design.copy, 'PlannerDesignCopy', { input: input }, 'designCopy').then(function () {
            design.copy = null;
            return vm.load(false);
          });
        };

        vm.archive = function (design) {
          design.action = design.action || {};
          return change(design.action, 'PlannerDesignArchive', { id: design.id }, 'designArchive').then(function () {
            return vm.load(false);
          });
        };

        vm.load(false);
      }]);
})(window.angular);
