/* Impersonation: each tenant's settings (re-authentication, approval, longest time, whom to act
   as), the approval inbox, the viewer's own requests (start, end), and asking for one. The
   inbox lists only what the viewer may approve (the API asks the policy for each), so its
   Approve / Deny buttons need no permission of their own; the API decides again on each. */
(function (angular) {
  'use strict';

  var STATUSES = ['REQUESTED', 'APPROVED', 'DENIED', 'ACTIVE', 'ENDED', 'EXPIRED'];

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'impersonation', path: '/admin/impersonation', title: 'Impersonation', section: 'Administration', order: 70,
        templateUrl: 'app/admin/impersonation.html', controller: 'ImpersonationController',
        requires: ['ImpersonationSettings']
      });
    }])
    .controller('ImpersonationController', ['graphql', 'adminKit', 'auth', function (graphql, kit, auth) {
      var vm = this;
      vm.kit = kit;
      vm.statuses = STATUSES;
      vm.places = null;
      vm.error = null;
      vm.tenantId = null;
      vm.settings = null;
      vm.input = null;
      vm.settingsForm = {};
      vm.inbox = { status: 'REQUESTED', mine: false, items: [], page: null, loading: false, error: null };
      vm.request = { subTenantId: null, reason: '', minutes: 30, form: {} };
      vm.viewer = auth.state.viewer;
      vm.names = {};

      kit.directory().then(function (names) { vm.names = names; }, angular.noop);
      vm.actor = function (id) { return (id && vm.names[id]) || id; };

      kit.places().then(function (places) {
        vm.places = places;
        if (!vm.tenantId && places.tenants.length) {
          vm.tenantId = places.tenants[0].id;
          vm.loadSettings();
        }
      }, function (failure) { vm.error = failure.message; });

      function show(settings) {
        vm.settings = settings;
        vm.input = settings && {
          requireReauth: settings.requireReauth, requireApproval: settings.requireApproval, maxMinutes: settings.maxMinutes,
          targetMode: settings.targetMode,
          mapping: settings.mapping.map(function (m) { return { subTenantId: m.subTenantId, userId: m.userId }; })
        };
      }

      vm.loadSettings = function () {
        kit.reset(vm.settingsForm);
        vm.settingsForm.done = null;
        if (!vm.tenantId) { show(null); return; }
        var asked = vm.tenantId;
        show(null);
        return graphql.query('AdminImpersonationSettings', { tenantId: asked }).then(function (data) {
          if (vm.tenantId === asked) { show(data.impersonationSettings); }   // a later choice wins
        }, function (failure) { vm.error = failure.message; });
      };

      vm.subTenantChoices = function () { return (vm.places && vm.places.byTenant[vm.tenantId]) || []; };
      vm.addMappingRow = function () { vm.input.mapping.push({ subTenantId: null, userId: '' }); };
      vm.removeMappingRow = function (row) { vm.input.mapping = vm.input.mapping.filter(function (m) { return m !== row; }); };

      vm.saveSettings = function () {
        return kit.run(vm.settingsForm, function () {
          var input = angular.extend({ tenantId: vm.tenantId }, vm.input);
          return graphql.mutate('AdminImpersonationSettingsSet', { input: input })
            .then(function (data) { return graphql.outcome(data.impersonationSettingsSet); });
        }, function (saved) {
          show(saved);
          vm.settingsForm.done = 'Saved.';
        });
      };

      var loads = 0;   // only the newest list request shows (answers may arrive out of order)
      vm.loadInbox = function (more) {
        var box = vm.inbox;
        var mine = ++loads;
        box.loading = true;
        box.error = null;
        return graphql.query('AdminImpersonationRequests', {
          status: box.status || null, mine: box.mine, after: more ? box.page.endCursor : null
        }).then(function (data) {
          if (mine !== loads) { return; }
          var nodes = data.impersonationRequests.edges.map(function (e) { return e.node; });
          box.items = more ? box.items.concat(nodes) : nodes;
          box.page = data.impersonationRequests.pageInfo;
          box.shownMine = box.mine;
        }, function (failure) { box.error = failure.message; }).finally(function () { box.loading = false; });
      };

      vm.place = function (id) { return (vm.places && vm.places.names[id]) || id; };

      function act(r, name) {
        r.form = r.form || {};
        r.lastAction = name;
        return kit.run(r.form, function () {
          if (name === 'approve') {
            return graphql.mutate('AdminImpersonationApprove', { id: r.id }).then(function (d) { return graphql.outcome(d.impersonationApprove); });
          }
          if (name === 'deny') {
            return graphql.mutate('AdminImpersonationDeny', { id: r.id }).then(function (d) { return graphql.outcome(d.impersonationDeny); });
          }
          return graphql.mutate('AdminImpersonationStart', { id: r.id }).then(function (d) { return graphql.outcome(d.impersonationStart); });
        }, function (updated) {
          angular.extend(r, updated);
          r.form.done = { approve: 'Approved.', deny: 'Denied.', start: 'Started: this session now acts as ' + vm.actor(updated.targetUser) + '.' }[name];
          if (name === 'start') { return kit.refreshViewer().then(function (v) { vm.viewer = v; }); }
        });
      }

      vm.approve = function (r) { return act(r, 'approve'); };
      vm.deny = function (r) { return act(r, 'deny'); };
      vm.start = function (r) { return act(r, 'start'); };
      vm.retry = function (r) { return act(r, r.lastAction); };
      vm.mayStart = function (r) {
        return vm.inbox.shownMine && (r.status === 'APPROVED' || (r.status === 'REQUESTED' && !r.requireApproval));
      };

      vm.endForm = {};
      vm.end = function () {
        return kit.run(vm.endForm, function () {
          return graphql.mutate('AdminImpersonationEnd').then(function (d) { return graphql.outcome(d.impersonationEnd); });
        }, function () {
          vm.endForm.done = 'Ended: this session is your own again.';
          return kit.refreshViewer().then(function (v) { vm.viewer = v; return vm.loadInbox(false); });
        });
      };

      vm.ask = function () {
        var q = vm.request;
        return kit.run(q.form, function () {
          return graphql.mutate('AdminImpersonationRequest', { subTenantId: q.subTenantId, reason: q.reason, minutes: q.minutes })
            .then(function (d) { return graphql.outcome(d.impersonationRequest); });
        }, function (made) {
          q.form.done = 'Requested (' + made.status + ').';
          q.reason = '';
          vm.inbox.mine = true;
          vm.inbox.status = null;
          return vm.loadInbox(false);
        });
      };

      vm.loadInbox(false);
    }]);
})(window.angular);
