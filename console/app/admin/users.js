/* Users and service accounts the viewer may see: filters, one user's detail (role bindings, groups,
   API tokens), disable / enable, and granting or revoking roles. The pattern for the configuration pages. */
(function (angular) {
  'use strict';

  var MAX_GROUP_PAGES = 5;   // groups checked for a user's memberships (100 a page); see groupsOf

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'users', path: '/admin/users', title: 'Users', section: 'Administration', order: 10,
        templateUrl: 'app/admin/users.html', controller: 'UsersController', requires: ['User']
      });
    }])
    .controller('UsersController', ['$q', 'graphql', 'adminKit', function ($q, graphql, kit) {
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

      function variables(after) {
        var filter = { includeDisabled: vm.filter.includeDisabled };
        if (vm.filter.text) { filter.text = vm.filter.text; }
        if (vm.filter.kind) { filter.kind = vm.filter.kind; }
        if (vm.filter.tenantId) { filter.tenantId = vm.filter.tenantId; }
        if (vm.filter.subTenantId) { filter.subTenantId = vm.filter.subTenantId; }
        return { filter: filter, after: after || null };
      }

      vm.subTenantChoices = function () {
        if (!vm.places || !vm.filter.tenantId) { return []; }
        return vm.places.byTenant[vm.filter.tenantId] || [];
      };

      vm.tenantChanged = function () { vm.filter.subTenantId = null; };

      var loads = 0;   // only the newest list request shows (answers may arrive out of order)
      vm.load = function (more) {
        var mine = ++loads;
        vm.loading = true;
        vm.error = null;
        return graphql.query('AdminUsers', variables(more ? vm.page.endCursor : null)).then(function (data) {
          if (mine !== loads) { return; }
          var nodes = data.users.edges.map(function (e) { return e.node; });
          vm.users = more ? vm.users.concat(nodes) : nodes;
          vm.page = data.users.pageInfo;
        }, function (failure) {
          vm.error = failure.message;
        }).finally(function () { vm.loading = false; });
      };

      /**
       * The groups a user is in. The API has no "groups of a user" query, so the visible groups
       * are asked for their members (at most MAX_GROUP_PAGES pages of groups; `partial` says so).
       */
      function groupsOf(userId) {
        var found = [], pages = 0;
        function page(after) {
          pages += 1;
          return graphql.query('AdminGroups', { tenantId: null, after: after }).then(function (data) {
            var groups = data.groups.edges.map(function (e) { return e.node; }).filter(function (g) { return g.memberCount > 0; });
            return $q.all(groups.map(function (g) {
              return graphql.query('AdminGroupMembers', { groupId: g.id }).then(function (members) {
                members.groupMembers.forEach(function (m) {
                  if (m.user.id === userId) { found.push({ group: g, source: m.source }); }
                });
              });
            })).then(function () {
              if (data.groups.pageInfo.hasNextPage && pages < MAX_GROUP_PAGES) { return page(data.groups.pageInfo.endCursor); }
              return { groups: found, partial: data.groups.pageInfo.hasNextPage };
            });
          });
        }
        return page(null);
      }

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
        groupsOf(user.id).then(function (result) { detail.groups = result.groups; detail.groupsPartial = result.partial; },
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
