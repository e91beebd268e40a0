/* Groups the viewer may see: members (manual and from identity providers), the group's role
   bindings, the identity providers' group -> role mappings, and local groups made here. */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'groups', path: '/admin/groups', title: 'Groups', section: 'Administration', order: 20,
        templateUrl: 'app/admin/groups.html', controller: 'GroupsController', requires: ['Group']
      });
    }])
    .controller('GroupsController', ['graphql', 'adminKit', function (graphql, kit) {
      var vm = this;
      vm.kit = kit;
      vm.places = null;
      vm.tenantId = null;
      vm.groups = [];
      vm.page = null;
      vm.error = null;
      vm.loading = false;
      vm.selected = null;
      vm.detail = null;
      vm.create = { name: '', scopeKind: null, scopeId: null, form: {} };
      vm.member = { text: '', candidates: [], userId: null, form: {} };
      vm.idps = [];
      vm.idpsReadable = kit.can('IdentityProvider', 'read');
      vm.homeKinds = ['PROVIDER', 'TENANT', 'SUB_TENANT'];

      kit.places().then(function (places) { vm.places = places; }, function (failure) { vm.error = failure.message; });

      vm.load = kit.pager(vm, 'AdminGroups', 'groups', 'groups', function () { return { tenantId: vm.tenantId || null }; });

      function loadIdps() {
        if (!vm.idpsReadable) { return; }
        graphql.query('AdminIdentityProviders').then(function (data) { vm.idps = data.identityProviders; },
                                                       function (failure) { vm.error = failure.message; });
      }

      /** The identity providers' mappings that give this group's members roles (IdP groups only). */
      vm.mappingsOf = function (group) {
        var found = [];
        vm.idps.forEach(function (idp) {
          idp.groupMappings.forEach(function (m) {
            if (group && group.idpId === idp.id && m.groupName === group.name) { found.push(m); }
          });
        });
        return found;
      };

      vm.select = function (group) {
        vm.selected = group;
        vm.detail = { loading: true, members: [], bindings: [], mappings: vm.mappingsOf(group) };
        kit.reset(vm.member.form);
        vm.member.form.done = null;
        vm.member.candidates = [];
        vm.member.userId = null;
        var detail = vm.detail;
        graphql.query('AdminGroupMembers', { groupId: group.id }).then(function (data) {
          detail.members = data.groupMembers;
          return graphql.query('AdminGroupBindings', { groupId: group.id });
        }).then(function (data) {
          detail.bindings = data.roleBindings.edges.map(function (e) { return e.node; });
        }, function (failure) { detail.error = failure.message; }).finally(function () { detail.loading = false; });
      };

      vm.createGroup = function () {
        return kit.run(vm.create.form, function () {
          return graphql.mutate('AdminGroupCreate', { name: vm.create.name, home: { scopeKind: vm.create.scopeKind, scopeId: vm.create.scopeId } })
            .then(function (data) { return graphql.outcome(data.groupCreate); });
        }, function (group) {
          vm.create.form.done = 'Created the group ' + group.name + '.';
          vm.create.name = '';
          return vm.load(false).then(function () {
            vm.select(vm.groups.filter(function (g) { return g.id === group.id; })[0] || group);
          });
        });
      };

      vm.findUsers = function () {
        return kit.run(vm.member.form, function () {
          return graphql.query('AdminUsers', { filter: { text: vm.member.text || null }, after: null });
        }, function (data) {
          vm.member.candidates = data.users.edges.map(function (e) { return e.node; });
          vm.member.userId = vm.member.candidates.length ? vm.member.candidates[0].id : null;
        });
      };

      function reloadMembers() {
        return graphql.query('AdminGroupMembers', { groupId: vm.selected.id }).then(function (data) {
          vm.detail.members = data.groupMembers;
          vm.selected.memberCount = data.groupMembers.length;
        });
      }

      vm.addMember = function () {
        return kit.run(vm.member.form, function () {
          return graphql.mutate('AdminGroupMemberAdd', { groupId: vm.selected.id, userId: vm.member.userId })
            .then(function (data) { return graphql.outcome(data.groupMemberAdd); });
        }, function () {
          vm.member.form.done = 'Added.';
          return reloadMembers();
        });
      };

      vm.removeMember = function (m) {
        m.form = m.form || {};
        return kit.run(m.form, function () {
          return graphql.mutate('AdminGroupMemberRemove', { groupId: vm.selected.id, userId: m.user.id })
            .then(function (data) { return graphql.outcome(data.groupMemberRemove); });
        }, reloadMembers);
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
      loadIdps();
    }]);
})(window.angular);
