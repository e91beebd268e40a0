/*
 * Planned vs found, and the canvas filling in live. `designDrift` lists each planned resource of a
 * saved version beside what ingest found for the client's stack (PLANNED, IN_SYNC, DRIFTED, and
 * UNPLANNED for CIs the plan lacks). While the canvas is open one `ciChanges` subscription, filtered
 * to the plan's URNs (from the change feed's position, resumed after reconnects, and started again
 * from the last event seen when the plan grows), watches for the planned resources' CIs: a
 * component is marked found at once, and the drift report is read again once the burst settles.
 */
(function (angular) {
  'use strict';

  var SETTLE_MS = 1500;
  var RECENT = 12;
  var STATUSES = ['PLANNED', 'IN_SYNC', 'DRIFTED', 'UNPLANNED'];
  var MAX_URNS = 5000;   // the API's limit on filter.urns

  angular.module('skyloom').factory('plannerDrift', ['$timeout', 'graphql', 'problems', function ($timeout, graphql, problems) {
    return {
      start: function (scope, vm) {
        var timer = null, ticket = 0, liveFound = {}, reportFound = {};
        var variables = { after: null }, positioned = false, handle = null, watched = '';
        var drift = { report: null, counts: {}, found: {}, byUrn: {}, live: [], error: null, loading: false,
                      statuses: STATUSES, liveError: null };

        function foundChanged() {
          var all = {};
          Object.keys(reportFound).forEach(function (id) { all[id] = reportFound[id]; });
          Object.keys(liveFound).forEach(function (id) { all[id] = all[id] || 'live'; });
          drift.found = all;   // a new object: the canvas repaints
        }

        /** Resources of the plan by URN (a preview's, or the drift report's), to recognise CIs as they arrive. */
        drift.planned = function (resources) {
          resources.forEach(function (r) {
            if (r.urn) { drift.byUrn[r.urn] = { componentId: r.componentId, name: r.name, type: r.type }; }
          });
          watch();
        };

        /** (Re)subscribe for the plan's URNs, from the last event seen, whenever they change. */
        function watch() {
          var urns = Object.keys(drift.byUrn).sort(), key = urns.join('\n');
          if (!positioned || !urns.length || key === watched) { return; }
          watched = key;
          if (handle) { handle.unsubscribe(); }
          var asked = { after: variables.after, filter: urns.length <= MAX_URNS ? { urns: urns } : null };
          handle = graphql.subscribe('PlannerChanges', asked, function (data) {
            variables.after = asked.after = data.ciChanges.eventId;
            drift.liveError = null;
            arrived(data.ciChanges);
          }, scope, function (errors) { drift.liveError = problems.describeErrors(errors); });
        }

        /** Read the report for `version` (the version on the canvas by default, once saved without errors). */
        drift.refresh = function (version) {
          var info = vm.versionInfo;
          if (version === undefined) {
            if (!info || (info.problems || []).some(function (p) { return p.severity === 'ERROR'; })) { return; }
            version = info.number;
          }
          var mine = ++ticket;
          drift.loading = true;
          return graphql.query('PlannerDrift', { id: vm.id, version: version }).then(function (data) {
            if (mine !== ticket) { return; }
            drift.error = null;
            drift.report = data.designDrift;
            reportFound = {};
            drift.counts = {};
            STATUSES.forEach(function (s) { drift.counts[s] = 0; });
            (drift.report ? drift.report.entries : []).forEach(function (e) {
              drift.counts[e.status] += 1;
              if (e.status !== 'UNPLANNED') { drift.planned([e]); }
              if (e.componentId && (e.status === 'IN_SYNC' || e.status === 'DRIFTED') && reportFound[e.componentId] !== 'DRIFTED') {
                reportFound[e.componentId] = e.status;
              }
            });
            foundChanged();
          }, function (failure) {
            if (mine === ticket) { drift.error = failure.message; }
          }).finally(function () { if (mine === ticket) { drift.loading = false; } });
        };

        function settle() {
          $timeout.cancel(timer);
          timer = $timeout(function () { drift.refresh(drift.report ? drift.report.version : undefined); }, SETTLE_MS);
        }

        function arrived(change) {
          var ci = change.after || change.before, planned = ci && ci.urn ? drift.byUrn[ci.urn] : null;
          if (!planned) { return; }
          if (planned.componentId) {
            if (change.operation === 'DELETE' || !change.after || change.after.deleted) { delete liveFound[planned.componentId]; }
            else { liveFound[planned.componentId] = true; }
            foundChanged();
          }
          drift.live.unshift({ eventId: change.eventId, at: change.at, operation: change.operation, urn: ci.urn,
                               name: planned.name, type: planned.type, componentId: planned.componentId });
          drift.live.length = Math.min(drift.live.length, RECENT);
          settle();
        }

        graphql.query('PlannerFeedPosition').then(function (data) {
          variables.after = data.changeFeedPosition;
          positioned = true;
          watch();
        }, function (failure) { drift.liveError = failure.message; });

        scope.$on('$destroy', function () { $timeout.cancel(timer); ticket += 1; });
        return drift;
      }
    };
  }]);
})(window.angular);
