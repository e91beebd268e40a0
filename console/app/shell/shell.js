/* The frame around every page: the menu the viewer may use, who is signed in, sign-out, and the
   live indicator of the websocket. */
(function (angular) {
  'use strict';

  angular.module('skyloom').controller('ShellController', ['$scope', '$route', 'auth', 'pages', 'access', 'live',
    function ($scope, $route, auth, pages, access, live) {
      var shell = this;
      shell.auth = auth.state;
      shell.live = live.status;
      shell.menu = [];

      function rebuild() { shell.menu = auth.state.viewer ? pages.menu(access.allowed) : []; }

      shell.current = function (page) {
        return !!($route.current && $route.current.page === page);
      };
      shell.signOut = function () { auth.signOut(); };
      shell.liveLabel = function () {
        return { live: 'live', connecting: 'connecting', reconnecting: 'reconnecting', refused: 'refused' }[live.status.state] || 'offline';
      };

      $scope.$watch(function () { return auth.state.viewer; }, rebuild);
      auth.ready();
    }]);
})(window.angular);
