/*
 * Live changes in the explorer: one `ciChanges` subscription (the server sends only what the
 * caller may see), started at the change feed's position read with the first lists and moved
 * forward with every event, so a reconnect resumes without a gap. An event updates what is on
 * screen in place (names, kinds) and, when it adds or removes something in the shown scope,
 * re-reads that scope's lists and graph once the burst settles.
 */
(function (angular) {
  'use strict';

  var RECENT = 8;
  var SETTLE_MS = 400;

  angular.module('skyloom').factory('explorerLive', ['$timeout', 'graphql', 'problems', function ($timeout, graphql, problems) {
    function replaceIn(list, ci) {
      for (var i = 0; i < list.length; i++) {
        if (list[i].id === ci.id) { angular.extend(list[i], ci); return true; }
      }
      return false;
    }

    return {
      start: function (scope, vm) {
        var live = { events: [], count: 0, error: null, variables: { after: null, filter: null } };
        var pending = null, reloadTree = false;

        function settle() {
          $timeout.cancel(pending);
          pending = $timeout(function () {
            var tree = reloadTree ? vm.loadTree() : null;
            reloadTree = false;
            (tree ? tree.then(vm.refresh) : vm.refresh());
          }, SETTLE_MS);
        }

        function inScope(change) {
          if (!vm.tenancy) { return true; }   // the list shows every visible CI
          return change.tenancyId === vm.tenancy.id || change.id === vm.tenancy.id;
        }

        function apply(change) {
          var ci = change.after;
          live.count += 1;
          live.events.unshift({ eventId: change.eventId, at: change.at, operation: change.operation, kind: change.kind,
                                name: (ci && ci.name) || (change.before && change.before.name) || change.id, actor: change.actor });
          live.events.length = Math.min(live.events.length, RECENT);
          if (change.kind === 'Tenancy' && ci) {
            if (!replaceIn(vm.tenancies, ci) && change.operation !== 'DELETE' && !ci.deleted) { vm.tenancies.push(ci); }
            if (ci.deleted) { vm.tenancies = vm.tenancies.filter(function (t) { return t.id !== ci.id; }); }
            if (vm.tenancy && vm.tenancy.id === ci.id) { angular.extend(vm.tenancy, ci); }
          }
          // The selected item's detail lists its relationships: re-read it when it or a child changed.
          var container = ci && (ci.compartment ? ci.compartment.id : ci.tenancy && ci.tenancy.id);
          if (change.id === vm.selectedId || (container && container === vm.selectedId)) { vm.detailRevision += 1; }
          if (!inScope(change)) { return; }
          var changedInPlace = ci && change.operation === 'UPDATE' && replaceIn(vm.cis, ci);
          if (ci && change.kind === 'Compartment') {
            var shown = vm.compartmentById(ci.id);
            if (shown) { angular.extend(shown, ci); }
            reloadTree = reloadTree || change.operation !== 'UPDATE' || !shown;
          }
          if (!changedInPlace || vm.view === 'graph' || reloadTree) { settle(); }
        }

        /** Subscribe from `position` (an event id) on; called once the first lists are read. */
        live.follow = function (position) {
          live.variables.after = position;
          graphql.subscribe('ExplorerChanges', live.variables, function (data) {
            var change = data.ciChanges;
            live.variables.after = change.eventId;
            live.error = null;
            apply(change);
          }, scope, function (errors) {
            live.error = problems.describeErrors(errors);
          });
        };

        scope.$on('$destroy', function () { $timeout.cancel(pending); });
        return live;
      }
    };
  }]);
})(window.angular);
