/* Operations of the shell: who the caller is and what each page may do. */
(function (angular) {
  'use strict';

  angular.module('skyloom').config(['operationsProvider', function (operations) {
    operations.define({
      ProblemFields: `
        fragment ProblemFields on Problem {
          __typename
          code
          message
          ... on ValidationProblem { field }
          ... on Conflict { field }
          ... on NotFound { id }
          ... on Forbidden { needsProof }
          ... on ProofRefused { reason }
        }`,

      Viewer: `
        query Viewer {
          viewer {
            id kind name authenticated tier authStrength browserSession hasFreshProof proofUntil
            homeProviderId homeTenantId homeSubTenantId groups
            impersonator { id kind name }
            bindings { role scopeKind scopeId viaGroup tier }
            permissions { kind read write writeWithProof actions actionsWithProof }
          }
        }`
    });
  }]);
})(window.angular);
