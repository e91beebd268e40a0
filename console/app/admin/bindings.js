/* The roles catalogue (tier, where each may be bound) and the role bindings at each scope. */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'bindings', path: '/admin/bindings', title: 'Role bindings', section: 'Administration', order: 30,
        templateUrl: 'app/admin/bindings.html', controller: 'BindingsController', requires: ['RoleBinding']
      });
    }])
    .controller('BindingsController', ['graphql', 'adminKit', function (graphql, kit) {
      var vm = this;
      vm.kit = kit;
      vm.places = null;
      vm.roles = [];
      vm.bindings = [];
      vm.page = null;
      vm.error = null;
      vm.loading = false;
      vm.filter = { scopeKind: null, scopeId: null, subjectId: '' };
      vm.scopeKinds = ['INSTALLATION', 'PROVIDER', 'TENANT', 'SUB_TENANT', 'COMPARTMENT'];
      vm.names = {};

      kit.places().then(function (places) { vm.places = places; }, function (failure) { vm.error = failure.message; });
      graphql.query('AdminRoles').then(function (data) { vm.roles = data.roles; }, function (failure) { vm.error = failure.message; });
      kit.directory().then(function (names) { vm.names = names; }, function (failure) { vm.error = failure.message; });

      vm.scopeKindChanged = function () { vm.filter.scopeId = vm.filter.scopeKind === 'INSTALLATION' ? '*' : null; };

      vm.filterFor = function () {
        var f = {};
        if (vm.filter.scopeKind) { f.scopeKind = vm.filter.scopeKind; }
        if (vm.filter.scopeId) { f.scopeId = vm.filter.scopeId; }
        if (vm.filter.subjectId) { f.subjectId = vm.filter.subjectId; }
        return f;
      };

      vm.load = kit.pager(vm, 'AdminRoleBindings', 'roleBindings', 'bindings', function () { return { filter: vm.filterFor() }; });

      vm.subject = function (b) { return vm.names[b.subjectId] || b.subjectId; };

      vm.revoke = function (binding) {
        binding.form = binding.form || {};
        return kit.run(binding.form, function () {
          return graphql.mutate('AdminBindingRevoke', { id: binding.id }).then(function (data) { return graphql.outcome(data.roleBindingRevoke); });
        }, function () {
          vm.bindings = vm.bindings.filter(function (b) { return b.id !== binding.id; });
        });
      };

      vm.load(false);
    }]);
})(window.angular);
