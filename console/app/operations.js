/*
 * The registry of the console's GraphQL operations. The documents themselves live in
 * app/operations/*.js, each `Name: \`...\`` a query, mutation, subscription or fragment named
 * exactly like its key; tests/test_console_operations.py extracts every one of them and validates
 * it against schema/schema.graphql, so an operation that drifts from the API fails the tests, not
 * a user. Pages refer to operations by name: `graphql.query('ExplorerTenancies', vars)`.
 */
(function (angular) {
  'use strict';

  var SPREAD = /\.\.\.\s*([A-Za-z_]\w*)/g;
  var HEAD = /^\s*(query|mutation|subscription|fragment)\s+([A-Za-z_]\w*)/;

  function OperationsProvider() {
    var documents = {};

    /** Add named documents; a name may be defined once. */
    this.define = function (map) {
      Object.keys(map).forEach(function (name) {
        var head = HEAD.exec(map[name]);
        if (!head || head[2] !== name) {
          throw new Error('operation ' + name + ' must start with "query|mutation|subscription|fragment ' + name + '"');
        }
        if (documents[name]) {
          throw new Error('operation ' + name + ' is defined twice');
        }
        documents[name] = { kind: head[1], text: map[name] };
      });
    };

    this.$get = function () {
      function fragmentsOf(text, seen) {
        var match, out = [];
        SPREAD.lastIndex = 0;
        var names = [];
        while ((match = SPREAD.exec(text)) !== null) { names.push(match[1]); }
        names.forEach(function (name) {
          var doc = documents[name];
          if (doc && doc.kind === 'fragment' && !seen[name]) {
            seen[name] = true;
            out.push(doc.text);
            out = out.concat(fragmentsOf(doc.text, seen));
          }
        });
        return out;
      }

      return {
        /** 'query', 'mutation' or 'subscription' (throws for an unknown name). */
        kind: function (name) {
          if (!documents[name]) { throw new Error('unknown GraphQL operation ' + name); }
          return documents[name].kind;
        },
        /** The operation's text with every fragment it spreads (transitively) appended. */
        document: function (name) {
          var doc = documents[name];
          if (!doc) { throw new Error('unknown GraphQL operation ' + name); }
          return [doc.text].concat(fragmentsOf(doc.text, {})).join('\n');
        }
      };
    };
  }

  angular.module('skyloom').provider('operations', OperationsProvider);
})(window.angular);
