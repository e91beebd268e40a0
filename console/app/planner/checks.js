/*
 * Validation while drawing: after each change (debounced), the document goes to `designValidate` and
 * the answer is placed on the canvas: each problem on its connection (when it names one) or its
 * component, the worse severity winning, and design-wide problems listed apart. Only the newest
 * answer counts, so a slow reply to an older drawing never paints over a newer one.
 */
(function (angular) {
  'use strict';

  var SETTLE_MS = 300;

  function place(problems) {
    var marks = { nodes: {}, edges: {} };
    function mark(map, key, severity) {
      if (map[key] !== 'error') { map[key] = severity; }
    }
    problems.forEach(function (p) {
      var severity = p.severity === 'ERROR' ? 'error' : 'warning';
      if (p.connection !== null && p.connection !== undefined) { mark(marks.edges, p.connection, severity); }
      else if (p.componentId) { mark(marks.nodes, p.componentId, severity); }
    });
    return marks;
  }

  angular.module('skyloom').factory('plannerChecks', ['$timeout', 'graphql', 'plannerModel',
    function ($timeout, graphql, model) {
      return {
        start: function (scope, vm) {
          var timer = null, ticket = 0;
          var checks = { problems: [], marks: place([]), errors: 0, warnings: 0, pending: false, error: null };

          checks.set = function (problems) {
            checks.problems = problems || [];
            checks.marks = place(checks.problems);
            checks.errors = checks.problems.filter(function (p) { return p.severity === 'ERROR'; }).length;
            checks.warnings = checks.problems.length - checks.errors;
          };

          /** The problems of one component (or, with a number, one connection). */
          checks.of = function (componentId, connection) {
            return checks.problems.filter(function (p) {
              return connection !== undefined ? p.connection === connection
                : (p.componentId === componentId && (p.connection === null || p.connection === undefined));
            });
          };

          checks.designWide = function () {
            return checks.problems.filter(function (p) {
              return !p.componentId && (p.connection === null || p.connection === undefined);
            });
          };

          /** Ask the server about the drawing once the edits settle. */
          checks.schedule = function () {
            checks.pending = true;
            $timeout.cancel(timer);
            timer = $timeout(function () {
              var mine = ++ticket;
              graphql.query('PlannerValidate', { document: model.outgoing(vm.doc) }).then(function (data) {
                if (mine !== ticket) { return; }
                checks.error = null;
                checks.set(data.designValidate);
              }, function (failure) {
                if (mine === ticket) { checks.error = failure.message; }
              }).finally(function () { if (mine === ticket) { checks.pending = false; } });
            }, SETTLE_MS);
          };

          checks.cancel = function () { $timeout.cancel(timer); ticket += 1; checks.pending = false; };

          scope.$on('$destroy', checks.cancel);
          return checks;
        }
      };
    }]);
})(window.angular);
