/* Operations of the architecture planner: clients (tenants), designs and their versions, the canvas's
   palette and validation, previews, applies, drift, and the change stream that fills the canvas in. */
(function (angular) {
  'use strict';

  angular.module('skyloom').config(['operationsProvider', function (operations) {
    operations.define({
      PlannerProblem: `
        fragment PlannerProblem on DesignProblem { code message severity componentId connection }`,

      PlannerDesignFields: `
        fragment PlannerDesignFields on Design {
          id name cloud tenantId latestVersion errorCount warningCount copiedFrom copiedVersion archived createdBy createdAt
          updatedBy updatedAt
        }`,

      PlannerRunFields: `
        fragment PlannerRunFields on DesignRun {
          id designId version project stack planDigest engine status resources error requestedBy startedAt finishedAt
        }`,

      PlannerClients: `
        query PlannerClients {
          providers {
            id name displayName
            cloudBackends { id cloud name }
            tenants { id name displayName createdAt deleted }
          }
        }`,

      PlannerTenants: `
        query PlannerTenants($after: String) {
          tenants(first: 100, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges { node { id name displayName } }
          }
        }`,

      PlannerTenantCreate: `
        mutation PlannerTenantCreate($input: TenantCreateInput!) {
          tenantCreate(input: $input) { __typename ...ProblemFields ... on Tenant { id name displayName createdAt deleted } }
        }`,

      PlannerDesigns: `
        query PlannerDesigns($tenantId: ID, $after: String, $includeArchived: Boolean!) {
          designs(tenantId: $tenantId, first: 20, after: $after, includeArchived: $includeArchived) {
            pageInfo { hasNextPage endCursor }
            edges { node { ...PlannerDesignFields } }
          }
        }`,

      PlannerDesign: `
        query PlannerDesign($id: ID!) {
          design(id: $id) {
            ...PlannerDesignFields
            history { number errorCount warningCount comment createdBy createdAt }
            current { number document comment createdBy createdAt problems { ...PlannerProblem } }
            runs { ...PlannerRunFields }
          }
        }`,

      PlannerDesignVersion: `
        query PlannerDesignVersion($id: ID!, $number: Int!) {
          designVersion(id: $id, number: $number) {
            number document comment createdBy createdAt problems { ...PlannerProblem }
          }
        }`,

      PlannerCompare: `
        query PlannerCompare($id: ID!, $before: Int!, $after: Int!) {
          designCompare(id: $id, before: $before, after: $after) {
            added { id kind name }
            removed { id kind name }
            changed { id kind name changes { field before after } }
            connectionsAdded { source target }
            connectionsRemoved { source target }
            settingsChanged { field before after }
          }
        }`,

      PlannerPalette: `
        query PlannerPalette($cloud: Cloud!) {
          designPalette(cloud: $cloud) {
            cloud defaultRegion maxComponents maxConnections
            kinds { kind term providerTerm display properties { name help required type default choices pattern minimum maximum } }
            connections { source target meaning }
          }
        }`,

      PlannerValidate: `
        query PlannerValidate($document: JSON!) {
          designValidate(document: $document) { ...PlannerProblem }
        }`,

      PlannerDesignCreate: `
        mutation PlannerDesignCreate($input: DesignCreateInput!) {
          designCreate(input: $input) { __typename ...ProblemFields ... on Design { ...PlannerDesignFields } }
        }`,

      PlannerDesignSave: `
        mutation PlannerDesignSave($input: DesignSaveInput!) {
          designSave(input: $input) {
            __typename ...ProblemFields
            ... on Design {
              ...PlannerDesignFields
              history { number errorCount warningCount comment createdBy createdAt }
              current { number document comment createdBy createdAt problems { ...PlannerProblem } }
            }
          }
        }`,

      PlannerDesignCopy: `
        mutation PlannerDesignCopy($input: DesignCopyInput!) {
          designCopy(input: $input) { __typename ...ProblemFields ... on Design { ...PlannerDesignFields } }
        }`,

      PlannerDesignArchive: `
        mutation PlannerDesignArchive($id: ID!) {
          designArchive(id: $id) { __typename ...ProblemFields ... on Design { ...PlannerDesignFields } }
        }`,

      PlannerPreview: `
        mutation PlannerPreview($id: ID!, $version: Int) {
          designPreview(id: $id, version: $version) {
            __typename ...ProblemFields
            ... on DesignInvalid { problems { ...PlannerProblem } }
            ... on DesignPreview {
              designId version project stack program engine planDigest
              resources { type name urn componentId }
            }
          }
        }`,

      PlannerApply: `
        mutation PlannerApply($id: ID!, $version: Int!, $planDigest: String!) {
          designApply(id: $id, version: $version, planDigest: $planDigest) {
            __typename ...ProblemFields
            ... on DesignInvalid { problems { ...PlannerProblem } }
            ... on DesignRun { ...PlannerRunFields }
          }
        }`,

      PlannerRun: `
        query PlannerRun($id: ID!) {
          designRun(id: $id) { ...PlannerRunFields }
        }`,

      PlannerDrift: `
        query PlannerDrift($id: ID!, $version: Int) {
          designDrift(id: $id, version: $version) {
            version project stack
            entries { status componentId type name urn ciId differences { field before after } }
          }
        }`,

      PlannerFeedPosition: `
        query PlannerFeedPosition { changeFeedPosition }`,

      PlannerChanges: `
        subscription PlannerChanges($after: ID, $filter: CiChangeFilter) {
          ciChanges(after: $after, filter: $filter) {
            eventId at operation kind id
            after { id name urn deleted }
            before { id urn }
          }
        }`
    });
  }]);
})(window.angular);
