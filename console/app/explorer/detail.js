/*
 * One configuration item in detail: its kind as the product writes it ("Compartment (Resource
 * Group)") with the semantic and the provider term side by side, its properties, tags and recorded
 * attributes, its relationships and impact, and its history (every version, newest page on demand).
 * `revision` is bumped by the explorer when a live change touches this CI: it is read again.
 */
(function (angular) {
  'use strict';

  angular.module('skyloom').component('ciDetail', {
    templateUrl: 'app/explorer/detail.html',
    bindings: { ciId: '<', revision: '<', onSelect: '&' },
    controller: ['graphql', function (graphql) {
      var ctrl = this;
      ctrl.ci = null;
      ctrl.history = [];
      ctrl.historyPage = null;
      ctrl.error = null;
      ctrl.loading = false;

      function load() {
        var id = ctrl.ciId;
        ctrl.error = null;
        if (!id) { ctrl.ci = null; ctrl.history = []; return; }
        ctrl.loading = true;
        graphql.query('CiDetail', { id: id }).then(function (data) {
          if (id !== ctrl.ciId) { return; }
          ctrl.ci = data.ci;
          if (!data.ci) { ctrl.error = 'This item does not exist or is not visible to you.'; }
          return data.ci ? ctrl.loadHistory(false) : null;
        }, function (failure) { ctrl.error = failure.message; }).finally(function () { ctrl.loading = false; });
      }

      ctrl.loadHistory = function (more) {
        var id = ctrl.ciId;
        return graphql.query('CiHistory', { id: id, after: more ? ctrl.historyPage.endCursor : null }).then(function (data) {
          if (id !== ctrl.ciId || !data.ci) { return; }
          var versions = data.ci.history.edges.map(function (e) { return e.node; });
          ctrl.history = more ? ctrl.history.concat(versions) : versions;
          ctrl.historyPage = data.ci.history.pageInfo;
        }, function (failure) { ctrl.error = failure.message; });
      };

      ctrl.attributes = function () {
        return ctrl.ci && ctrl.ci.attributes && Object.keys(ctrl.ci.attributes).length ? ctrl.ci.attributes : null;
      };

      ctrl.select = function (id) { ctrl.onSelect({ id: id }); };

      ctrl.$onChanges = function (changes) {
        if (changes.ciId || changes.revision) { load(); }
      };
    }]
  });
})(window.angular);
