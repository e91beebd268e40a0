/*
 * A design's versions on the canvas: open an older version read-only (and go back to the latest),
 * compare two versions (`designCompare`: components by id, connections, settings; positions are
 * layout, not changes), and copy the version on screen into a new design.
 */
(function (angular) {
  'use strict';

  angular.module('skyloom').factory('plannerHistory', ['graphql', function (graphql) {
    return {
      start: function (vm) {
        var hist = { compare: { before: null, after: null }, copy: { name: '' }, comparison: null, copied: null };

        function versions() { return (vm.design && vm.design.history) || []; }

        hist.numbers = function () { return versions().map(function (v) { return v.number; }); };

        /** After a load or a save: compare the latest with the one before, copy under a new name. */
        hist.reset = function () {
          var latest = vm.design.latestVersion;
          hist.compare.before = Math.max(1, latest - 1);
          hist.compare.after = latest;
          hist.copy.name = hist.copy.name || vm.design.name + '-copy';
        };

        /** Put a version on the canvas: the latest for editing, an older one read-only. */
        hist.open = function (number) {
          hist.error = null;
          if (number === vm.design.latestVersion) { vm.show(vm.design.current, false); return; }
          return graphql.query('PlannerDesignVersion', { id: vm.id, number: number }).then(function (data) {
            if (!data.designVersion) { hist.error = 'That version is not visible.'; return; }
            vm.show(data.designVersion, true);
          }, function (failure) { hist.error = failure.message; });
        };

        hist.compareVersions = function () {
          var form = hist.compare;
          form.error = null;
          hist.comparison = null;
          if (!form.before || !form.after) { form.error = 'Choose two versions.'; return; }
          form.busy = true;
          return graphql.query('PlannerCompare', { id: vm.id, before: form.before, after: form.after }).then(function (data) {
            if (!data.designCompare) { form.error = 'Those versions cannot be compared.'; return; }
            var c = data.designCompare;
            c.before = form.before;
            c.after = form.after;
            c.empty = !(c.added.length || c.removed.length || c.changed.length || c.connectionsAdded.length ||
                        c.connectionsRemoved.length || c.settingsChanged.length);
            hist.comparison = c;
          }, function (failure) { form.error = failure.message; }).finally(function () { form.busy = false; });
        };

        hist.copyVersion = function () {
          var form = hist.copy;
          form.busy = true;
          form.error = null;
          hist.copied = null;
          var input = { id: vm.id, name: form.name, version: vm.version };
          return graphql.mutate('PlannerDesignCopy', { input: input }).then(function (data) {
            return graphql.outcome(data.designCopy);
          }).then(function (design) {
            hist.copied = design;
          }, function (failure) { form.error = failure.message; }).finally(function () { form.busy = false; });
        };

        /** A value of a comparison, as text (JSON for objects, a dash for nothing). */
        hist.text = function (value) {
          if (value === null || value === undefined) { return '—'; }
          return typeof value === 'object' ? JSON.stringify(value) : String(value);
        };

        return hist;
      }
    };
  }]);
})(window.angular);
