/* The audit trail: filters (types or families such as `login.*`, priorities, actor, target,
   outcome, tenant, request, time range), cursor pages ("Load more"), each entry's detail, the
   hash chains' verification and the retention per priority. */
(function (angular) {
  'use strict';

  var PRIORITIES = ['DEBUG', 'INFO', 'NOTICE', 'WARN', 'ERROR', 'CRITICAL'];
  var OUTCOMES = ['SUCCESS', 'FAILURE', 'DENIED', 'ERROR'];

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'audit', path: '/admin/audit', title: 'Audit trail', section: 'Administration', order: 80,
        templateUrl: 'app/admin/audit.html', controller: 'AuditController', requires: ['AuditEntry']
      });
    }])
    .controller('AuditController', ['graphql', 'adminKit', function (graphql, kit) {
      var vm = this;
      vm.kit = kit;
      vm.priorities = PRIORITIES;
      vm.outcomes = OUTCOMES;
      vm.places = null;
      vm.filter = { types: '', priorities: {}, actor: '', target: '', outcome: null, tenantId: null, requestId: '', since: null, until: null };
      vm.entries = [];
      vm.page = null;
      vm.loading = false;
      vm.error = null;
      vm.open = {};
      vm.verification = null;
      vm.verifyError = null;
      vm.retention = [];

      vm.names = {};

      kit.places().then(function (places) { vm.places = places; }, function (failure) { vm.error = failure.message; });
      kit.directory().then(function (names) { vm.names = names; }, angular.noop);

      function dateValue(value) { return value instanceof Date && !isNaN(value.getTime()) ? value.toISOString() : null; }

      /** The AuditFilter input: only what was given (the server checks every value). */
      vm.filterInput = function () {
        var f = {}, types = vm.filter.types.split(',').map(function (t) { return t.trim(); }).filter(Boolean);
        var priorities = PRIORITIES.filter(function (p) { return vm.filter.priorities[p]; });
        if (types.length) { f.types = types; }
        if (priorities.length) { f.priorities = priorities; }
        ['actor', 'target', 'outcome', 'tenantId', 'requestId'].forEach(function (key) {
          if (vm.filter[key]) { f[key] = vm.filter[key]; }
        });
        if (dateValue(vm.filter.since)) { f.since = dateValue(vm.filter.since); }
        if (dateValue(vm.filter.until)) { f.until = dateValue(vm.filter.until); }
        return f;
      };

      vm.load = kit.pager(vm, 'AdminAudit', 'auditTrail', 'entries', function () { return { filter: vm.filterInput() }; });

      vm.clear = function () {
        vm.filter = { types: '', priorities: {}, actor: '', target: '', outcome: null, tenantId: null, requestId: '', since: null, until: null };
        return vm.load(false);
      };

      vm.toggle = function (entry) { vm.open[entry.id] = !vm.open[entry.id]; };
      vm.detailText = function (entry) { return kit.json(entry.detail); };
      vm.place = function (id) { return id ? ((vm.places && vm.places.names[id]) || id) : '—'; };

      vm.verify = function () {
        vm.verifying = true;
        vm.verifyError = null;
        return graphql.query('AdminAuditVerify').then(function (data) { vm.verification = data.auditVerify; },
          function (failure) { vm.verifyError = failure.message; }).finally(function () { vm.verifying = false; });
      };

      graphql.query('AdminAuditRetention').then(function (data) { vm.retention = data.auditRetention; }, angular.noop);
      vm.load(false);
      vm.verify();
    }]);
})(window.angular);
