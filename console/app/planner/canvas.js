/*
 * The planner's canvas (#!/planner/:id): the design's latest version drawn with cytoscape.js, a palette
 * of the cloud's kinds, connect mode, a property panel, validation while drawing, and saving with
 * `expectedVersion` (a stale edit gets Conflict and may reload). Versions, comparison and copies
 * (history.js), previews and applies (runs.js), and drift with live fill-in (drift.js) hang off `vm`.
 */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'planner-canvas', path: '/planner/:id', title: 'Design', section: 'CMDB', hidden: true,
        templateUrl: 'app/planner/canvas.html', controller: 'PlannerCanvasController', requires: ['Design']
      });
    }])
    .controller('PlannerCanvasController', ['$scope', '$routeParams', 'graphql', 'auth', 'plannerModel', 'plannerChecks',
      'plannerHistory', 'plannerRuns', 'plannerDrift',
      function ($scope, $routeParams, graphql, auth, model, plannerChecks, plannerHistory, plannerRuns, plannerDrift) {
        var vm = this;
        vm.id = $routeParams.id;
        vm.design = null;
        vm.palette = null;
        vm.kinds = {};          // kind -> the palette's entry (terms, properties)
        vm.terms = {};          // kind -> "Network (VPC)"
        vm.doc = null;
        vm.revision = 0;
        vm.version = null;      // the version on the canvas
        vm.readOnly = false;
        vm.dirty = false;
        vm.selected = null;     // 'n:<component id>' or 'e:<connection index>'
        vm.mode = 'select';
        vm.source = null;       // connect mode: the component picked first
        vm.save = { comment: '' };
        vm.mayWrite = auth.can('Design', 'write');
        vm.checks = plannerChecks.start($scope, vm);
        vm.history = plannerHistory.start(vm);
        vm.runs = plannerRuns.start($scope, vm);
        vm.drift = plannerDrift.start($scope, vm);

        /** Put a version on the canvas (the latest is editable, older ones are read-only). */
        vm.show = function (version, readOnly) {
          var keep = vm.selected;
          vm.doc = model.clone(version.document || {});
          vm.version = version.number;
          vm.versionInfo = version;
          vm.readOnly = !!readOnly || !vm.mayWrite || vm.design.archived;
          vm.dirty = false;
          vm.mode = 'select';
          vm.source = null;
          vm.checks.cancel();
          vm.checks.set(version.problems);
          vm.revision += 1;
          vm.selected = keep && vm.exists(keep) ? keep : null;
        };

        vm.load = function () {
          vm.error = null;
          vm.conflict = null;
          return graphql.query('PlannerDesign', { id: vm.id }).then(function (data) {
            if (!data.design) { vm.error = 'This design does not exist or is not visible to you.'; return; }
            vm.design = data.design;
            vm.runs.known(data.design.runs);
            var palette = vm.palette ? null : graphql.query('PlannerPalette', { cloud: data.design.cloud }).then(function (p) {
              vm.palette = p.designPalette;
              vm.palette.kinds.forEach(function (k) { vm.kinds[k.kind] = k; vm.terms[k.kind] = k.display; });
              vm.revision += 1;
            });
            vm.show(data.design.current, false);
            vm.history.reset();
            vm.drift.refresh();
            return palette;
          }, function (failure) { vm.error = failure.message; });
        };

        vm.changed = function () {
          vm.dirty = true;
          vm.revision += 1;
          vm.checks.schedule();
        };

        vm.exists = function (key) {
          if (!key || !vm.doc) { return false; }
          if (key.indexOf('n:') === 0) { return !!model.find(vm.doc, key.slice(2)); }
          return Number(key.slice(2)) < (vm.doc.connections || []).length;
        };

        vm.component = function () {
          return vm.selected && vm.selected.indexOf('n:') === 0 ? model.find(vm.doc, vm.selected.slice(2)) : null;
        };

        vm.connectionIndex = function () {
          return vm.selected && vm.selected.indexOf('e:') === 0 ? Number(vm.selected.slice(2)) : null;
        };

        vm.add = function (kind) {
          if (vm.readOnly) { return; }
          var component = model.add(vm.doc, kind.kind);
          vm.mode = 'select';
          vm.source = null;
          vm.selected = 'n:' + component.id;
          vm.changed();
        };

        /** A tap on the canvas or the components list: select it, or in connect mode pick the ends. */
        vm.pick = function (key) {
          if (vm.mode !== 'connect' || key.indexOf('n:') !== 0) { vm.selected = key; return; }
          var id = key.slice(2);
          if (!vm.source) { vm.source = id; vm.connectNote = null; return; }
          var from = model.find(vm.doc, vm.source), to = model.find(vm.doc, id);
          var index = model.connect(vm.doc, vm.source, id);
          vm.connectNote = from && to && !model.allowed(vm.palette, from.kind, to.kind)
            ? 'The palette does not list ' + from.kind + ' → ' + to.kind + '; the server will say why.' : null;
          vm.source = null;
          vm.selected = 'e:' + index;
          vm.changed();
        };

        vm.background = function () { vm.selected = null; vm.source = null; };

        vm.toggleConnect = function () {
          vm.mode = vm.mode === 'connect' ? 'select' : 'connect';
          vm.source = null;
          if (vm.mode === 'connect') { vm.connectNote = null; }
        };

        vm.moved = function (id, x, y) {
          if (vm.readOnly) { return; }
          model.move(vm.doc, id, x, y);
          vm.dirty = true;
        };

        vm.removeSelected = function () {
          var component = vm.component(), index = vm.connectionIndex();
          if (component) { model.remove(vm.doc, component.id); }
          else if (index !== null) { model.disconnect(vm.doc, index); }
          else { return; }
          vm.selected = null;
          vm.changed();
        };

        vm.removeProperty = function (component, name) { delete component.properties[name]; vm.changed(); };

        /** Properties the component holds that the palette does not offer (the server flags them). */
        vm.otherProperties = function (component) {
          var known = ((vm.kinds[component.kind] || {}).properties || []).map(function (p) { return p.name; });
          return Object.keys(component.properties || {}).filter(function (k) { return known.indexOf(k) < 0; });
        };

        vm.nameOf = function (id) {
          var c = vm.doc && model.find(vm.doc, id);
          return c ? (c.name || c.id) : id;
        };

        vm.saveDesign = function () {
          var form = vm.save;
          form.busy = true;
          form.error = null;
          vm.conflict = null;
          var input = { id: vm.id, expectedVersion: vm.design.latestVersion, document: model.outgoing(vm.doc) };
          if (form.comment) { input.comment = form.comment; }
          return graphql.mutate('PlannerDesignSave', { input: input }).then(function (data) {
            return graphql.outcome(data.designSave);
          }).then(function (saved) {
            angular.extend(vm.design, saved);
            form.comment = '';
            form.saved = saved.latestVersion;
            vm.show(saved.current, false);
            vm.history.reset();
            vm.drift.refresh();
          }, function (failure) {
            var problem = failure.problem;
            if (problem && problem.__typename === 'Conflict' && problem.field === 'expectedVersion') {
              vm.conflict = failure.message;
            } else {
              form.error = failure.message;
            }
          }).finally(function () { form.busy = false; });
        };

        vm.load();
      }]);
})(window.angular);
