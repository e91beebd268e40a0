/* The tenant isolation setup assistant (provider tier): the current mode, what the database can
   do, the modes (those this release does not offer cannot be chosen), the plan of a switch, and
   the switch itself with a fresh proof, answered by the verified row counts of every label. */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'isolation', path: '/admin/isolation', title: 'Tenant isolation', section: 'Administration', order: 90,
        templateUrl: 'app/admin/isolation.html', controller: 'IsolationController', requires: ['IsolationSettings']
      });
    }])
    .controller('IsolationController', ['graphql', 'adminKit', function (graphql, kit) {
      var vm = this;
      vm.kit = kit;
      vm.status = null;
      vm.error = null;
      vm.choice = { mode: null, plan: null, planError: null, confirmed: false };
      vm.form = {};
      vm.report = null;

      vm.load = function () {
        return graphql.query('AdminIsolation').then(function (data) {
          vm.status = data.isolation;
          if (!vm.status) { vm.error = 'The isolation settings are not visible to you.'; }
        }, function (failure) { vm.error = failure.message; });
      };

      vm.titleOf = function (mode) {
        var found = vm.status && vm.status.modes.filter(function (m) { return m.mode === mode; })[0];
        return found ? found.title : mode;
      };

      var asked = 0;
      /** Choosing a mode shows what a switch to it would do (nothing changes yet). */
      vm.choose = function (info) {
        if (!info.offered) { return; }
        var mine = ++asked;
        vm.choice = { mode: info.mode, plan: null, planError: null, confirmed: false };
        vm.report = null;
        kit.reset(vm.form);
        return graphql.query('AdminIsolationPlan', { mode: info.mode }).then(function (data) {
          if (mine === asked) { vm.choice.plan = data.isolationPlan; }
        }, function (failure) { if (mine === asked) { vm.choice.planError = failure.message; } });
      };

      vm.switchMode = function () {
        return kit.run(vm.form, function () {
          return graphql.mutate('AdminIsolationSwitch', { mode: vm.choice.mode, confirm: !!vm.choice.confirmed })
            .then(function (data) { return graphql.outcome(data.isolationSwitch); });
        }, function (report) {
          vm.report = report;
          vm.choice = { mode: null, plan: null, planError: null, confirmed: false };
          return vm.load();
        });
      };

      vm.load();
    }]);
})(window.angular);
