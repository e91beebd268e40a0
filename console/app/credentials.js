/*
 * How the console proves who it is. Two ways, never both at once:
 *  - an API token (operators, automation): kept in sessionStorage only, so it dies with the tab,
 *    sent as `Authorization: Bearer` and, on the websocket, as connection_init's `authorization`;
 *  - a browser session (after an IdP login): the HttpOnly `skyloom_session` cookie travels by
 *    itself; state-changing requests echo the `skyloom_csrf` cookie in X-CSRF-Token ($http does it,
 *    see module.js) and the websocket's connection_init carries it as `csrfToken`.
 */
(function (angular) {
  'use strict';

  var TOKEN_KEY = 'skyloom.apiToken';
  var CSRF_COOKIE = 'skyloom_csrf';

  angular.module('skyloom').factory('credentials', ['$window', '$document', function ($window, $document) {
    function storage() {
      try { return $window.sessionStorage; } catch (e) { return null; }   // storage may be disabled
    }

    function token() {
      var store = storage();
      return store ? store.getItem(TOKEN_KEY) : null;
    }

    function cookie(name) {
      var parts = ($document[0].cookie || '').split(';');
      for (var i = 0; i < parts.length; i++) {
        var pair = parts[i].trim();
        if (pair.indexOf(name + '=') === 0) { return decodeURIComponent(pair.slice(name.length + 1)); }
      }
      return null;
    }

    return {
      token: token,
      csrfToken: function () { return cookie(CSRF_COOKIE); },
      setToken: function (value) {
        var store = storage();
        if (!store) { throw new Error('this browser does not allow session storage'); }
        store.setItem(TOKEN_KEY, value);
      },
      clearToken: function () {
        var store = storage();
        if (store) { store.removeItem(TOKEN_KEY); }
      },
      /** Headers for POST /graphql (the CSRF header of a cookie session is added by $http). */
      httpHeaders: function () {
        var value = token();
        return value ? { Authorization: 'Bearer ' + value } : {};
      },
      /** The graphql-transport-ws connection_init payload (keys as skyloom/authn.py reads them). */
      connectionParams: function () {
        var value = token();
        if (value) { return { authorization: 'Bearer ' + value }; }
        var csrf = cookie(CSRF_COOKIE);
        return csrf ? { csrfToken: csrf } : {};
      }
    };
  }]);
})(window.angular);
