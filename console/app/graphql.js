/*
 * The console's only way to the API: GraphQL over POST /graphql, and subscriptions over the
 * websocket (live.js). Operations are referred to by name (operations.js); a response with
 * `errors` rejects with readable text, and `graphql.outcome` turns a typed problem into one too.
 */
(function (angular) {
  'use strict';

  function GraphQLFailure(message, codes, status) {
    this.name = 'GraphQLFailure';
    this.message = message;
    this.codes = codes || [];
    this.status = status || 0;
  }
  GraphQLFailure.prototype = Object.create(Error.prototype);

  angular.module('skyloom').factory('graphql', ['$http', '$q', 'operations', 'credentials', 'problems', 'live',
    function ($http, $q, operations, credentials, problems, live) {
      function send(kind, name, variables) {
        if (operations.kind(name) !== kind) {
          return $q.reject(new GraphQLFailure(name + ' is not a ' + kind));
        }
        var body = { query: operations.document(name), variables: variables || {}, operationName: name };
        return $http.post('/graphql', body, { headers: credentials.httpHeaders() }).then(function (response) {
          var result = response.data || {};
          if (result.errors && result.errors.length) {
            throw new GraphQLFailure(problems.describeErrors(result.errors), codesOf(result.errors), response.status);
          }
          return result.data;
        }, function (response) {
          var errors = response.data && response.data.errors;
          var message = errors ? problems.describeErrors(errors) : 'The server did not answer (' + (response.status || 'offline') + ').';
          throw new GraphQLFailure(message, codesOf(errors), response.status);
        });
      }

      function codesOf(errors) {
        return (errors || []).map(function (e) { return e.extensions && e.extensions.code; }).filter(Boolean);
      }

      return {
        Failure: GraphQLFailure,
        /** Resolves with `data`; rejects with a GraphQLFailure whose message is readable. */
        query: function (name, variables) { return send('query', name, variables); },
        mutate: function (name, variables) { return send('mutation', name, variables); },
        /**
         * Follow a subscription: `onNext(data)` for each event. `variables` is kept by reference and
         * sent again on every reconnect, so a caller can move a resume point (`after`) forward.
         * With `scope`, the subscription ends when the scope is destroyed (e.g. on a route change).
         * Returns a handle with `unsubscribe()`.
         */
        subscribe: function (name, variables, onNext, scope, onError) {
          if (operations.kind(name) !== 'subscription') { throw new Error(name + ' is not a subscription'); }
          var handle = live.subscribe(operations.document(name), name, variables || {}, onNext, onError);
          if (scope) { scope.$on('$destroy', handle.unsubscribe); }
          return handle;
        },
        /** A mutation's result object, or a rejection with the problem's readable text. */
        outcome: function (result) {
          if (problems.isProblem(result)) {
            var failure = new GraphQLFailure(problems.describe(result), [result.code]);
            failure.problem = result;
            return $q.reject(failure);
          }
          return $q.resolve(result);
        }
      };
    }]);

  /** A 401 anywhere (a refused or expired credential) ends the sign-in and shows the sign-in page. */
  angular.module('skyloom').factory('unauthorizedInterceptor', ['$q', '$injector', function ($q, $injector) {
    return {
      responseError: function (response) {
        if (response.status === 401 && !(response.config && response.config.quietUnauthorized)) {
          $injector.get('auth').expired();
        }
        return $q.reject(response);
      }
    };
  }]);
})(window.angular);
