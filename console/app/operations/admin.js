/* Operations of the administration pages. */
(function (angular) {
  'use strict';

  angular.module('skyloom').config(['operationsProvider', function (operations) {
    operations.define({
      AdminUsers: `
        query AdminUsers($filter: UserFilter, $after: String) {
          users(filter: $filter, first: 50, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges {
              node {
                id kind displayName email idpId homeProviderId homeTenantId homeSubTenantId
                createdAt lastLoginAt disabled
              }
            }
          }
        }`
    });
  }]);
})(window.angular);
