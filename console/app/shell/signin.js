/* The sign-in page: an identity provider's login (browser session), or an API token (kept in this
   tab's sessionStorage only). Anonymous callers cannot list the identity providers (the API shows
   them to their administrators only), so the IdP is named by its id. */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'signin', path: '/signin', title: 'Sign in', public: true, hidden: true,
        templateUrl: 'app/shell/signin.html', controller: 'SignInController'
      });
    }])
    .controller('SignInController', ['$location', 'auth', function ($location, auth) {
      var vm = this;
      vm.auth = auth.state;
      vm.token = '';
      vm.idpId = '';
      vm.error = null;
      vm.busy = false;

      auth.ready().then(function (viewer) { if (viewer) { $location.path('/explorer'); } });

      vm.withToken = function () {
        vm.busy = true;
        vm.error = null;
        auth.signInWithToken(vm.token).then(function () {
          vm.token = '';
          $location.path('/explorer');
        }, function (error) {
          vm.error = error.message;
        }).finally(function () { vm.busy = false; });
      };

      vm.withIdp = function () {
        vm.error = null;
        auth.signInWithIdp(vm.idpId).catch(function (error) { vm.error = error.message; });
      };
    }]);
})(window.angular);
