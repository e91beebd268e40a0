/* Users and service accounts the viewer may see (read-only): the pattern for the configuration pages. */
(function (angular) {
  'use strict';

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'users', path: '/admin/users', title: 'Users', section: 'Administration', order: 10,
        templateUrl: 'app/admin/users.html', controller: 'UsersController', requires: ['User']
      });
    }])
    .controller('UsersController', ['graphql', function (graphql) {
      var vm = this;
      vm.filter = { text: '', kind: '', includeDisabled: false };
      vm.users = [];
      vm.page = null;
      vm.error = null;
      vm.loading = false;

      function variables(after) {
        var filter = { includeDisabled: vm.filter.includeDisabled };
        if (vm.filter.text) { filter.text = vm.filter.text; }
        if (vm.filter.kind) { filter.kind = vm.filter.kind; }
        return { filter: filter, after: after || null };
      }

      vm.load = function (more) {
        vm.loading = true;
        vm.error = null;
        graphql.query('AdminUsers', variables(more ? vm.page.endCursor : null)).then(function (data) {
          var nodes = data.users.edges.map(function (e) { return e.node; });
          vm.users = more ? vm.users.concat(nodes) : nodes;
          vm.page = data.users.pageInfo;
        }, function (failure) {
          vm.error = failure.message;
        }).finally(function () { vm.loading = false; });
      };

      vm.load(false);
    }]);
})(window.angular);
