/*
 * Preview and apply. A preview generates the saved version's Pulumi program and runs it under the
 * Pulumi SDK's mocks: the page lists the resources and shows the program as text, with the plan's
 * digest. Applying is the provider's and needs a fresh hardware-key proof: the operator confirms the
 * digest (the approval of exactly that plan), and the run is followed until it ends. Here the engine
 * is `mocks`: nothing touches a cloud, and the page says so.
 */
(function (angular) {
  'use strict';

  var POLL_MS = 1000;

  angular.module('skyloom').factory('plannerRuns', ['$timeout', 'graphql', 'auth', 'pages', 'access',
    function ($timeout, graphql, auth, pages, access) {
      /** Where the console offers the step-up, if a page for it is registered and open to the viewer. */
      function stepUpPage() {
        var page = pages.all().filter(function (p) { return p.id === 'keys' || /step-up/i.test(p.title); })[0];
        return page && access.allowed(page) ? { path: '#!' + page.path, title: page.title } : null;
      }

      return {
        start: function (scope, vm) {
          var timer = null, alive = true;
          var runs = { preview: null, previewForm: {}, applyForm: {}, confirming: false, run: null, past: [] };

          /** The design's applies as the design query lists them (newest first); follow one still running. */
          runs.known = function (list) {
            runs.past = list || [];
            if (!runs.run && runs.past.length && runs.past[0].status === 'RUNNING') { follow(runs.past[0]); }
          };

          /** Whoever the policy lets apply, now or after a step-up (the provider tier). */
          runs.mayApply = function () {
            return auth.may('Design', 'apply', true) && !!vm.design && !vm.design.archived;
          };

          runs.makePreview = function () {
            var form = runs.previewForm;
            form.busy = true;
            form.error = null;
            form.problems = null;
            runs.confirming = false;
            return graphql.mutate('PlannerPreview', { id: vm.id, version: vm.version }).then(function (data) {
              return graphql.outcome(data.designPreview);
            }).then(function (preview) {
              runs.preview = preview;
              runs.applyForm = {};
              vm.drift.planned(preview.resources);
            }, function (failure) {
              form.error = failure.message;
              form.problems = failure.problem && failure.problem.problems;
            }).finally(function () { form.busy = false; });
          };

          runs.componentName = function (id) { return id ? vm.nameOf(id) : '—'; };

          runs.askApply = function () { runs.confirming = true; runs.applyForm = {}; };

          runs.apply = function () {
            var form = runs.applyForm, preview = runs.preview;
            form.busy = true;
            form.error = null;
            form.needsProof = false;
            return graphql.mutate('PlannerApply', { id: vm.id, version: preview.version, planDigest: preview.planDigest })
              .then(function (data) { return graphql.outcome(data.designApply); })
              .then(function (run) {
                runs.confirming = false;
                runs.past = [run].concat(runs.past);
                follow(run);
              }, function (failure) {
                var problem = failure.problem || {};
                form.error = failure.message;
                form.needsProof = problem.__typename === 'Forbidden' && !!problem.needsProof;
                form.stepUp = form.needsProof ? stepUpPage() : null;
              }).finally(function () { form.busy = false; });
          };

          function follow(run) {
            runs.run = run;
            $timeout.cancel(timer);
            if (run.status !== 'RUNNING') { ended(run); return; }
            timer = $timeout(function () {
              graphql.query('PlannerRun', { id: run.id }).then(function (data) {
                if (!alive || !data.designRun) { return; }
                runs.past = runs.past.map(function (r) { return r.id === run.id ? data.designRun : r; });
                follow(data.designRun);
              }, function (failure) { runs.pollError = failure.message; if (alive) { follow(run); } });
            }, POLL_MS);
          }

          function ended(run) { vm.drift.refresh(run.version); }

          scope.$on('$destroy', function () { alive = false; $timeout.cancel(timer); });
          return runs;
        }
      };
    }]);
})(window.angular);
