/*
 * The console's AngularJS module: strict dependency injection, hash routes, a hardened compiler.
 *
 * Everything on screen is bound as text ({{ }} / ng-bind); nothing here marks HTML as trusted and
 * no sanitizer module is loaded. Pages register themselves with `pagesProvider` (see pages.js).
 */
(function (angular) {
  'use strict';

  angular.module('skyloom', ['ngRoute'])
    .config(['$compileProvider', '$locationProvider', '$httpProvider', '$routeProvider',
      function ($compileProvider, $locationProvider, $httpProvider, $routeProvider) {
        $compileProvider.debugInfoEnabled(false);
        $compileProvider.commentDirectivesEnabled(false);
        $compileProvider.cssClassDirectivesEnabled(false);
        // Links and images may only point at http(s) (relative URLs resolve to this origin).
        $compileProvider.aHrefSanitizationTrustedUrlList(/^\s*https?:/);
        $compileProvider.imgSrcSanitizationTrustedUrlList(/^\s*https?:/);
        $locationProvider.html5Mode(false);
        $locationProvider.hashPrefix('!');
        // A browser session echoes the skyloom_csrf cookie in X-CSRF-Token; $http does it for
        // same-origin requests only, which is all the console makes.
        $httpProvider.defaults.xsrfCookieName = 'skyloom_csrf';
        $httpProvider.defaults.xsrfHeaderName = 'X-CSRF-Token';
        $httpProvider.interceptors.push('unauthorizedInterceptor');
        $routeProvider.otherwise({ redirectTo: '/explorer' });
      }]);
})(window.angular);
