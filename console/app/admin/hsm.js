/* The installation's HSM settings (PKCS#11 module, token label, challenge and proof lifetimes):
   read by provider operators, changed with a fresh proof. */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'hsm', path: '/admin/hsm', title: 'HSM', section: 'Administration', order: 60,
        templateUrl: 'app/admin/hsm.html', controller: 'HsmController', requires: ['HsmSettings']
      });
    }])
    .controller('HsmController', ['graphql', 'adminKit', function (graphql, kit) {
      var vm = this;
      vm.kit = kit;
      vm.settings = null;
      vm.input = null;
      vm.form = {};
      vm.error = null;

      function show(settings) {
        vm.settings = settings;
        vm.input = settings && {
          modulePath: settings.modulePath || '', tokenLabel: settings.tokenLabel || '',
          challengeTtlSeconds: settings.challengeTtlSeconds, proofValiditySeconds: settings.proofValiditySeconds
        };
      }

      vm.load = function () {
        return graphql.query('AdminHsmSettings').then(function (data) { show(data.hsmSettings); },
                                                       function (failure) { vm.error = failure.message; });
      };

      vm.save = function () {
        return kit.run(vm.form, function () {
          var input = angular.extend({}, vm.input);
          if (input.modulePath === '') { input.modulePath = null; }
          if (input.tokenLabel === '') { input.tokenLabel = null; }
          return graphql.mutate('AdminHsmUpdate', { input: input }).then(function (data) { return graphql.outcome(data.hsmSettingsUpdate); });
        }, function (saved) {
          show(saved);
          vm.form.done = 'Saved.';
        });
      };

      vm.load();
    }]);
})(window.angular);
