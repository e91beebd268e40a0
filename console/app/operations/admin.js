/* Operations of the administration pages: users, groups, role bindings, identity providers,
   hardware keys and step-up, HSM settings, impersonation, the audit trail and tenant isolation. Every change answers
   with its object or a typed problem (`...ProblemFields`), which the page shows next to its form. */
(function (angular) {
  'use strict';

  angular.module('skyloom').config(['operationsProvider', function (operations) {
    operations.define({
      // -- shared -----------------------------------------------------------------------------
      AdminBinding: `
        fragment AdminBinding on RoleBinding {
          id subjectKind subjectId role scopeKind scopeId createdBy createdAt mappingId
        }`,

      AdminUserFields: `
        fragment AdminUserFields on User {
          id kind displayName email idpId subject homeProviderId homeTenantId homeSubTenantId
          createdAt lastLoginAt disabled disabledAt
        }`,

      AdminGroupFields: `
        fragment AdminGroupFields on Group {
          id name idpId homeProviderId homeTenantId homeSubTenantId createdAt memberCount
        }`,

      AdminPlaces: `
        query AdminPlaces($after: String) {
          providers { id name displayName }
          tenants(first: 100, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges { node { id name displayName subTenants { id name displayName } } }
          }
        }`,

      AdminSubTenant: `
        query AdminSubTenant($id: ID!) {
          subTenant(id: $id) { id name displayName tenant { id } }
        }`,

      AdminRoles: `
        query AdminRoles {
          roles { name description tier scopeKinds }
        }`,

      AdminDirectory: `
        query AdminDirectory {
          users(filter: {includeDisabled: true}, first: 100) { edges { node { id kind displayName } } }
          groups(first: 100) { edges { node { id name } } }
        }`,

      AdminBindingCreate: `
        mutation AdminBindingCreate($input: RoleBindingCreateInput!) {
          roleBindingCreate(input: $input) { __typename ...ProblemFields ... on RoleBinding { ...AdminBinding } }
        }`,

      AdminBindingRevoke: `
        mutation AdminBindingRevoke($id: ID!) {
          roleBindingRevoke(id: $id) { __typename ...ProblemFields ... on RoleBinding { ...AdminBinding } }
        }`,

      // -- users ------------------------------------------------------------------------------
      AdminUsers: `
        query AdminUsers($filter: UserFilter, $after: String) {
          users(filter: $filter, first: 50, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges { node { ...AdminUserFields } }
          }
        }`,

      AdminUserDetail: `
        query AdminUserDetail($userId: ID!) {
          roleBindings(filter: {subjectId: $userId}, first: 100) {
            pageInfo { hasNextPage endCursor }
            edges { node { ...AdminBinding } }
          }
          apiTokens(userId: $userId) { id name createdBy createdAt expiresAt lastUsedAt }
        }`,

      AdminUserDisable: `
        mutation AdminUserDisable($id: ID!) {
          userDisable(id: $id) { __typename ...ProblemFields ... on User { ...AdminUserFields } }
        }`,

      AdminUserEnable: `
        mutation AdminUserEnable($id: ID!) {
          userEnable(id: $id) { __typename ...ProblemFields ... on User { ...AdminUserFields } }
        }`,

      // -- groups -----------------------------------------------------------------------------
      AdminGroups: `
        query AdminGroups($tenantId: String, $after: String) {
          groups(tenantId: $tenantId, first: 100, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges { node { ...AdminGroupFields } }
          }
        }`,

      AdminUserGroups: `
        query AdminUserGroups($userId: ID!) {
          userGroups(userId: $userId) { source group { ...AdminGroupFields } }
        }`,

      AdminGroupMembers: `
        query AdminGroupMembers($groupId: ID!) {
          groupMembers(groupId: $groupId) {
            source
            user { id kind displayName email disabled homeTenantId homeSubTenantId }
          }
        }`,

      AdminGroupBindings: `
        query AdminGroupBindings($groupId: ID!) {
          roleBindings(filter: {subjectId: $groupId}, first: 100) {
            pageInfo { hasNextPage endCursor }
            edges { node { ...AdminBinding } }
          }
        }`,

      AdminGroupCreate: `
        mutation AdminGroupCreate($name: String!, $home: HomeInput!) {
          groupCreate(name: $name, home: $home) { __typename ...ProblemFields ... on Group { ...AdminGroupFields } }
        }`,

      AdminGroupMemberAdd: `
        mutation AdminGroupMemberAdd($groupId: ID!, $userId: ID!) {
          groupMemberAdd(groupId: $groupId, userId: $userId) {
            __typename ...ProblemFields ... on GroupMembership { groupId userId member }
          }
        }`,

      AdminGroupMemberRemove: `
        mutation AdminGroupMemberRemove($groupId: ID!, $userId: ID!) {
          groupMemberRemove(groupId: $groupId, userId: $userId) {
            __typename ...ProblemFields ... on GroupMembership { groupId userId member }
          }
        }`,

      // -- role bindings ----------------------------------------------------------------------
      AdminRoleBindings: `
        query AdminRoleBindings($filter: RoleBindingFilter, $after: String) {
          roleBindings(filter: $filter, first: 50, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges { node { ...AdminBinding } }
          }
        }`,

      // -- identity providers -----------------------------------------------------------------
      AdminIdpFields: `
        fragment AdminIdpFields on IdentityProvider {
          id kind name providerId tenantId settings autoCreateUsers autoCreateGroups enabled
          groupMappings { id idpId groupName role scopeKind scopeId }
        }`,

      AdminIdentityProviders: `
        query AdminIdentityProviders {
          identityProviders { ...AdminIdpFields }
        }`,

      AdminIdpCreate: `
        mutation AdminIdpCreate($input: IdentityProviderCreateInput!) {
          identityProviderCreate(input: $input) {
            __typename ...ProblemFields ... on IdentityProvider { idp: id name enabled }
          }
        }`,

      AdminIdpUpdate: `
        mutation AdminIdpUpdate($input: IdentityProviderUpdateInput!) {
          identityProviderUpdate(input: $input) {
            __typename ...ProblemFields ... on IdentityProvider { idp: id name enabled }
          }
        }`,

      AdminMappingAdd: `
        mutation AdminMappingAdd($input: GroupRoleMappingAddInput!) {
          groupRoleMappingAdd(input: $input) {
            __typename ...ProblemFields ... on GroupRoleMapping { id idpId groupName role scopeKind scopeId }
          }
        }`,

      AdminMappingRemove: `
        mutation AdminMappingRemove($id: ID!) {
          groupRoleMappingRemove(id: $id) { __typename ...ProblemFields ... on GroupRoleMapping { id } }
        }`,

      // -- keys and step-up -------------------------------------------------------------------
      AdminStepUpState: `
        query AdminStepUpState {
          viewer { id name browserSession hasFreshProof proofUntil authStrength stepUpMethods impersonator { id name } }
        }`,

      AdminKeyFields: `
        fragment AdminKeyFields on RegisteredKey { id owner method label fingerprint createdAt revokedAt }`,

      AdminKeys: `
        query AdminKeys($owner: String, $includeRevoked: Boolean!) {
          registeredKeys(owner: $owner, includeRevoked: $includeRevoked) { ...AdminKeyFields }
        }`,

      AdminRootGroup: `
        query AdminRootGroup($after: String) {
          roleBindings(filter: {scopeKind: INSTALLATION}, first: 100) { edges { node { ...AdminBinding } } }
          groups(first: 100, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges { node { ...AdminGroupFields } }
          }
        }`,

      AdminKeyAdd: `
        mutation AdminKeyAdd($label: String!, $publicKeyPem: String!) {
          registeredKeyAdd(label: $label, publicKeyPem: $publicKeyPem) {
            __typename ...ProblemFields ... on RegisteredKey { ...AdminKeyFields }
          }
        }`,

      AdminKeyRevoke: `
        mutation AdminKeyRevoke($id: ID!) {
          registeredKeyRevoke(id: $id) { __typename ...ProblemFields ... on RegisteredKey { ...AdminKeyFields } }
        }`,

      AdminWebauthnRegisterBegin: `
        mutation AdminWebauthnRegisterBegin($label: String!) {
          webauthnRegisterBegin(label: $label) {
            __typename ...ProblemFields ... on StepUpChallenge { challengeId method publicKeyOptions }
          }
        }`,

      AdminWebauthnRegisterComplete: `
        mutation AdminWebauthnRegisterComplete($challengeId: ID!, $response: JSON!) {
          webauthnRegisterComplete(challengeId: $challengeId, response: $response) {
            __typename ...ProblemFields ... on RegisteredKey { ...AdminKeyFields }
          }
        }`,

      AdminStepUpBegin: `
        mutation AdminStepUpBegin($method: StepUpMethod!) {
          stepUpBegin(method: $method) {
            __typename ...ProblemFields
            ... on StepUpChallenge { challengeId method expiresAt challenge publicKeyOptions tokenLabel modulePath }
          }
        }`,

      AdminStepUpComplete: `
        mutation AdminStepUpComplete($challengeId: ID!, $proof: JSON!) {
          stepUpComplete(challengeId: $challengeId, proof: $proof) {
            __typename ...ProblemFields ... on Viewer { viewerId: id hasFreshProof proofUntil authStrength }
          }
        }`,

      // -- HSM settings -----------------------------------------------------------------------
      AdminHsmSettings: `
        query AdminHsmSettings {
          hsmSettings { modulePath tokenLabel challengeTtlSeconds proofValiditySeconds updatedBy updatedAt }
        }`,

      AdminHsmUpdate: `
        mutation AdminHsmUpdate($input: HsmSettingsInput!) {
          hsmSettingsUpdate(input: $input) {
            __typename ...ProblemFields
            ... on HsmSettings { modulePath tokenLabel challengeTtlSeconds proofValiditySeconds updatedBy updatedAt }
          }
        }`,

      // -- impersonation ----------------------------------------------------------------------
      AdminImpersonationSettingsFields: `
        fragment AdminImpersonationSettingsFields on ImpersonationSettings {
          tenantId requireReauth requireApproval maxMinutes targetMode mapping { subTenantId userId } updatedBy updatedAt
        }`,

      AdminImpersonationRequestFields: `
        fragment AdminImpersonationRequestFields on ImpersonationRequest {
          id requester tenantId subTenantId targetUser reason minutes requireReauth requireApproval status
          createdAt approver decidedAt startedBy startedAt expiresAt endedAt
        }`,

      AdminImpersonationSettings: `
        query AdminImpersonationSettings($tenantId: ID!) {
          impersonationSettings(tenantId: $tenantId) { ...AdminImpersonationSettingsFields }
        }`,

      AdminImpersonationSettingsSet: `
        mutation AdminImpersonationSettingsSet($input: ImpersonationSettingsInput!) {
          impersonationSettingsSet(input: $input) {
            __typename ...ProblemFields ... on ImpersonationSettings { ...AdminImpersonationSettingsFields }
          }
        }`,

      AdminImpersonationRequests: `
        query AdminImpersonationRequests($status: ImpersonationStatus, $mine: Boolean!, $after: String) {
          impersonationRequests(status: $status, mine: $mine, first: 50, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges { node { ...AdminImpersonationRequestFields } }
          }
        }`,

      AdminImpersonationRequest: `
        mutation AdminImpersonationRequest($subTenantId: ID!, $reason: String!, $minutes: Int!) {
          impersonationRequest(subTenantId: $subTenantId, reason: $reason, minutes: $minutes) {
            __typename ...ProblemFields ... on ImpersonationRequest { ...AdminImpersonationRequestFields }
          }
        }`,

      AdminImpersonationApprove: `
        mutation AdminImpersonationApprove($id: ID!) {
          impersonationApprove(id: $id) {
            __typename ...ProblemFields ... on ImpersonationRequest { ...AdminImpersonationRequestFields }
          }
        }`,

      AdminImpersonationDeny: `
        mutation AdminImpersonationDeny($id: ID!) {
          impersonationDeny(id: $id) {
            __typename ...ProblemFields ... on ImpersonationRequest { ...AdminImpersonationRequestFields }
          }
        }`,

      AdminImpersonationStart: `
        mutation AdminImpersonationStart($id: ID!) {
          impersonationStart(id: $id) {
            __typename ...ProblemFields ... on ImpersonationRequest { ...AdminImpersonationRequestFields }
          }
        }`,

      AdminImpersonationEnd: `
        mutation AdminImpersonationEnd {
          impersonationEnd {
            __typename ...ProblemFields ... on ImpersonationRequest { ...AdminImpersonationRequestFields }
          }
        }`,

      // -- audit trail ------------------------------------------------------------------------
      AdminAudit: `
        query AdminAudit($filter: AuditFilter, $after: String) {
          auditTrail(filter: $filter, first: 25, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges {
              node {
                id at type priority actor impersonator tenantId subTenantId target requestId source outcome
                detail position sealed
              }
            }
          }
        }`,

      AdminAuditVerify: `
        query AdminAuditVerify {
          auditVerify {
            ok checked unsealed
            firstBroken { priority position entryId reason }
            brokenChains { priority position entryId reason }
          }
        }`,

      AdminAuditRetention: `
        query AdminAuditRetention {
          auditRetention { priority keepDays }
        }`,

      // -- tenant isolation -------------------------------------------------------------------
      AdminIsolation: `
        query AdminIsolation {
          isolation {
            mode changedAt changedBy tenants tenantGraphs
            modes { mode title offered current }
            capabilities { name ok detail }
          }
        }`,

      AdminIsolationPlan: `
        query AdminIsolationPlan($mode: IsolationMode!) {
          isolationPlan(mode: $mode) { target steps }
        }`,

      AdminIsolationSwitch: `
        mutation AdminIsolationSwitch($mode: IsolationMode!, $confirm: Boolean!) {
          isolationSwitch(mode: $mode, confirm: $confirm) {
            __typename ...ProblemFields
            ... on IsolationSwitchReport { previous mode verified seconds labels { label rows } }
          }
        }`
    });
  }]);
})(window.angular);
