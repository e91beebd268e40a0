/* Users and service accounts the viewer may see: filters, one user's detail (role bindings, groups,
   API tokens), disable / enable, and granting or revoking roles. The pattern for the configuration pages. */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'users', path: '/admin/users', title: 'Users', section: 'Administration', order: 10,
        templateUrl: 'app/admin/users.html', controller: 'UsersController', requires: ['User']
      });
    }])
    .controller('UsersController', ['graphql', 'adminKit', function (graphql, kit) {
      var vm = this;
      vm.kit = kit;
      vm.filter = { text: '', kind: '', includeDisabled: false, tenantId: null, subTenantId: null };
      vm.users = [];
      vm.page = null;
      vm.error = null;
      vm.loading = false;
      vm.places = null;
      vm.selected = null;
      vm.detail = null;
      vm.action = {};

      kit.places().then(function (places) { vm.places = places; }, function (failure) { vm.error = failure.message; });

      function variables() {
        var filter = { includeDisabled: vm.filter.includeDisabled };
        if (vm.filter.text) { filter.text = vm.filter.text; }
        if (vm.filter.kind) { filter.kind = vm.filter.kind; }
        if (vm.filter.tenantId) { filter.tenantId = vm.filter.tenantId; }
        if (vm.filter.subTenantId) { filter.subTenantId = vm.filter.subTenantId; }
        return { filter: filter };
      }

      vm.subTenantChoices = function () {
        if (!vm.places || !vm.filter.tenantId) { return []; }
        return vm.places.byTenant[vm.filter.tenantId] || [];
      };

      vm.tenantChanged = function () { vm.filter.subTenantId = null; };

      vm.load = kit.pager(vm, 'AdminUsers', 'users', 'users', variables);

      vm.select = function (user) {
        vm.selected = user;
        vm.detail = { loading: true, bindings: [], tokens: [], groups: null };
        kit.reset(vm.action);
        vm.action.done = null;
        var detail = vm.detail;
        graphql.query('AdminUserDetail', { userId: user.id }).then(function (data) {
          detail.bindings = data.roleBindings.edges.map(function (e) { return e.node; });
          detail.moreBindings = data.roleBindings.pageInfo.hasNextPage;
          detail.tokens = data.apiTokens;
        }, function (failure) { detail.error = failure.message; }).finally(function () { detail.loading = false; });
        graphql.query('AdminUserGroups', { userId: user.id }).then(function (data) { detail.groups = data.userGroups; },
                                                                    function (failure) { detail.error = failure.message; });
      };

      vm.reloadSelected = function () { if (vm.selected) { vm.select(vm.selected); } };

      function replace(user) {
        vm.users = vm.users.map(function (u) { return u.id === user.id ? user : u; });
        vm.selected = user;
      }

      vm.setDisabled = function (disabled) {
        var user = vm.selected;
        return kit.run(vm.action, function () {
          return disabled
            ? graphql.mutate('AdminUserDisable', { id: user.id }).then(function (data) { return graphql.outcome(data.userDisable); })
            : graphql.mutate('AdminUserEnable', { id: user.id }).then(function (data) { return graphql.outcome(data.userEnable); });
        }, function (updated) {
          replace(updated);
          vm.action.done = updated.disabled ? 'Disabled: every session and token of this account stopped.' : 'Enabled again.';
        });
      };

      vm.revoke = function (binding) {
        binding.form = binding.form || {};
        return kit.run(binding.form, function () {
          return graphql.mutate('AdminBindingRevoke', { id: binding.id }).then(function (data) { return graphql.outcome(data.roleBindingRevoke); });
        }, function () {
          vm.detail.bindings = vm.detail.bindings.filter(function (b) { return b.id !== binding.id; });
        });
      };

      vm.granted = function (binding) { vm.detail.bindings = vm.detail.bindings.concat([binding]); };

      vm.load(false);
    }]);
})(window.angular);
