/*
 * Clients: the provider's tenants, the clients the planner draws for. Lists each visible provider with
 * its clients and creates a client (`tenantCreate`); the server decides who may do either. A client's
 * designs are one click away (the planner's list, filtered to that client).
 */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      // Needs Design too: the page exists for the planner, so whoever may not plan does not see it.
      pages.register({
        id: 'clients', path: '/clients', title: 'Clients', section: 'CMDB', order: 20,
        templateUrl: 'app/planner/clients.html', controller: 'PlannerClientsController', requires: ['Tenant', 'Design']
      });
    }])
    .controller('PlannerClientsController', ['graphql', 'auth', function (graphql, auth) {
      var vm = this;
      vm.providers = [];
      vm.groups = [];
      vm.error = null;
      vm.loading = true;
      vm.form = { providerId: null, name: '', displayName: '' };
      vm.created = null;

      /** Whether to offer the create form: the policy may allow it and there is a provider to put it under. */
      vm.mayCreate = function () {
        return (auth.can('Tenant', 'write') || auth.can('Tenant', 'writeWithProof')) && vm.providers.length > 0;
      };

      vm.load = function () {
        vm.loading = true;
        return graphql.query('PlannerClients').then(function (data) {
          vm.providers = data.providers.map(function (p) {
            p.tenants = p.tenants.filter(function (t) { return !t.deleted; })
              .sort(function (a, b) { return a.name < b.name ? -1 : (a.name > b.name ? 1 : 0); });
            return p;
          });
          if (!vm.form.providerId && vm.providers.length) { vm.form.providerId = vm.providers[0].id; }
          vm.groups = vm.providers;
          // A client's admin reads its client but not the provider: list the clients alone.
          if (!vm.providers.length) {
            return graphql.query('PlannerTenants').then(function (more) {
              vm.groups = [{ id: 'clients', displayName: 'Clients you may see', cloudBackends: null,
                             tenants: more.tenants.edges.map(function (e) { return e.node; }) }];
            });
          }
        }).catch(function (failure) { vm.error = failure.message; }).finally(function () { vm.loading = false; });
      };

      vm.create = function () {
        var form = vm.form;
        form.busy = true;
        form.error = null;
        vm.created = null;
        var input = { providerId: form.providerId, name: form.name };
        if (form.displayName) { input.displayName = form.displayName; }
        return graphql.mutate('PlannerTenantCreate', { input: input }).then(function (data) {
          return graphql.outcome(data.tenantCreate);
        }).then(function (tenant) {
          vm.created = tenant;
          form.name = '';
          form.displayName = '';
          return vm.load();
        }, function (failure) {
          form.error = failure.message;
        }).finally(function () { form.busy = false; });
      };

      vm.load();
    }]);
})(window.angular);
