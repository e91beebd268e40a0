/* Operations of the CMDB explorer: tenancies, compartments, CIs, one CI's detail and history,
   the graph of a scope, and the live change stream. */
(function (angular) {
  'use strict';

  angular.module('skyloom').config(['operationsProvider', function (operations) {
    operations.define({
      CiSummary: `
        fragment CiSummary on ConfigurationItem {
          __typename
          id kind name provider region deleted version
          displayKind semanticTerm providerTerm
          tenancy { id }
          compartment { id }
        }`,

      ExplorerStart: `
        query ExplorerStart {
          changeFeedPosition
          kinds: __type(name: "SemanticKind") { enumValues { name } }
          clouds: __type(name: "Cloud") { enumValues { name } }
        }`,

      ExplorerTenancies: `
        query ExplorerTenancies($after: String) {
          tenancies(first: 50, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges { node { ...CiSummary ... on Tenancy { isRoot parentTenancy { id name } } } }
          }
        }`,

      ExplorerTree: `
        query ExplorerTree($tenancyId: ID!) {
          tenancy(id: $tenancyId) {
            ...CiSummary
            compartmentTree { depth parentId compartment { ...CiSummary } }
          }
        }`,

      ExplorerCis: `
        query ExplorerCis($filter: CiFilter!, $after: String) {
          cis(filter: $filter, first: 50, after: $after) {
            totalCount
            pageInfo { hasNextPage endCursor }
            edges { node { ...CiSummary nativeType } }
          }
        }`,

      ExplorerGraph: `
        query ExplorerGraph($filter: CiFilter!, $after: String) {
          cis(filter: $filter, first: 100, after: $after) {
            pageInfo { hasNextPage endCursor }
            edges {
              node {
                ...CiSummary
                neighbours(types: [DEPENDS_ON], direction: OUTGOING, first: 100) { node { id } }
              }
            }
          }
        }`,

      CiDetail: `
        query CiDetail($id: ID!) {
          ci(id: $id) {
            ...CiSummary
            nativeType urn firstSeen lastSeen deletedAt attributes
            tags { key value }
            tenancy { id name displayKind }
            compartment { id name displayKind }
            neighbours(first: 100) {
              type direction
              node { id ... on ConfigurationItem { name displayKind } ... on PanelEntity { name displayName } }
            }
            impact(depth: 3, first: 20) { totalCount edges { depth node { id name displayKind } } }
          }
        }`,

      CiHistory: `
        query CiHistory($id: ID!, $after: String) {
          ci(id: $id) {
            id
            history(first: 20, after: $after) {
              pageInfo { hasNextPage endCursor }
              edges { node { eventId version at operation actor changedFields } }
            }
          }
        }`,

      ExplorerChanges: `
        subscription ExplorerChanges($after: ID, $filter: CiChangeFilter) {
          ciChanges(after: $after, filter: $filter) {
            eventId at operation kind id version actor tenancyId
            after { ...CiSummary }
            before { id name }
          }
        }`
    });
  }]);
})(window.angular);
