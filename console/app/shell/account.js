/* Who am I: the signed-in actor as the policy sees it (tier, bindings, permissions by kind). */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'account', path: '/account', title: 'My access', section: 'Account', order: 1,
        templateUrl: 'app/shell/account.html', controller: 'AccountController'
      });
    }])
    .controller('AccountController', ['auth', 'viewer', function (auth, viewer) {
      var vm = this;
      vm.viewer = viewer;
      vm.auth = auth.state;
    }]);
})(window.angular);
