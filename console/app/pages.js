/*
 * The page registry. A page is one script that registers itself in a config block, one template,
 * and one <script> line in index.html:
 *
 *   angular.module('skyloom').config(['pagesProvider', function (pages) {
 *     pages.register({
 *       id: 'users', path: '/admin/users', title: 'Users', section: 'Administration', order: 10,
 *       templateUrl: 'app/admin/users.html', controller: 'UsersController',
 *       requires: ['User']            // kinds of which the viewer must be allowed to read some
 *     });
 *   }]);
 *
 * The route resolves the sign-in first: nobody signed in goes to the sign-in page, and a page the
 * viewer's permissions (the `viewer` query) do not cover is neither listed nor opened. The server
 * enforces all of it anyway; this only keeps the console from offering what would be refused.
 */
(function (angular) {
  'use strict';

  var SECTIONS = ['CMDB', 'Account', 'Administration'];

  function PagesProvider($routeProvider) {
    var pages = [];

    this.register = function (page) {
      if (!page.id || !page.path || !page.templateUrl) { throw new Error('a page needs id, path and templateUrl'); }
      page.section = page.section || 'CMDB';
      page.requires = page.requires || [];
      pages.push(page);
      var route = {
        templateUrl: page.templateUrl,
        controller: page.controller,
        controllerAs: 'vm',
        reloadOnSearch: page.reloadOnSearch !== false,
        page: page
      };
      if (!page.public) {
        route.resolve = { viewer: ['access', function (access) { return access.admit(page); }] };
      }
      $routeProvider.when(page.path, route);
    };

    this.$get = function () {
      return {
        sections: SECTIONS,
        all: function () { return pages.slice(); },
        /** The pages `allowed(page)` says yes to, in menu order, grouped by section. */
        menu: function (allowed) {
          return SECTIONS.map(function (section) {
            var items = pages.filter(function (p) { return p.section === section && !p.hidden && allowed(p); })
              .sort(function (a, b) { return (a.order || 0) - (b.order || 0); });
            return { name: section, pages: items };
          }).filter(function (group) { return group.pages.length > 0; });
        }
      };
    };
  }
  PagesProvider.$inject = ['$routeProvider'];

  angular.module('skyloom')
    .provider('pages', PagesProvider)
    .factory('access', ['$q', 'auth', function ($q, auth) {
      function allowed(page) {
        if (page.public) { return true; }
        if (!auth.state.viewer) { return false; }
        return page.requires.every(function (kind) { return auth.can(kind, 'read'); });
      }
      return {
        allowed: allowed,
        /** A route's resolve: the viewer, or a rejection naming where to go instead. */
        admit: function (page) {
          return auth.ready().then(function (viewer) {
            if (!viewer) { return $q.reject({ redirectTo: '/signin' }); }
            if (!allowed(page)) { return $q.reject({ redirectTo: '/account', refused: page.title }); }
            return viewer;
          });
        }
      };
    }])
    .run(['$rootScope', '$location', 'auth', function ($rootScope, $location, auth) {
      $rootScope.$on('$routeChangeError', function (_event, _next, _previous, rejection) {
        if (rejection && rejection.redirectTo) {
          if (rejection.refused) {
            auth.state.notice = 'You may not use the page "' + rejection.refused + '".';
            auth.state.noticeSeen = false;
          }
          $location.path(rejection.redirectTo).search({}).replace();
        }
      });
      // A notice ("you may not use that page", "please sign in again") stays for one page.
      $rootScope.$on('$routeChangeSuccess', function () {
        if (auth.state.noticeSeen) { auth.state.notice = null; }
        auth.state.noticeSeen = !!auth.state.notice;
      });
    }]);
})(window.angular);
