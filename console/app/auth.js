/*
 * Who is signed in, and what they may do. The server decides everything; this only mirrors its
 * answers to choose what to show: `GET /auth/session` (who the cookie stands for) and the
 * `viewer` query (tier, bindings, and per-kind read / write permissions).
 */
(function (angular) {
  'use strict';

  var IDP_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;   // the identity_provider.id rule the server checks too

  angular.module('skyloom').factory('auth', ['$http', '$q', '$location', '$window', '$injector', 'credentials', 'live',
    function ($http, $q, $location, $window, $injector, credentials, live) {
      var state = { mode: 'none', viewer: null, notice: null };
      var ready = null;

      function graphql() { return $injector.get('graphql'); }

      function loadViewer() {
        return graphql().query('Viewer').then(function (data) {
          state.viewer = data.viewer.authenticated ? data.viewer : null;
          if (!state.viewer) { state.mode = 'none'; }
          return state.viewer;
        });
      }

      function start() {
        if (credentials.token()) {
          state.mode = 'token';
          return loadViewer().catch(function () { return null; });
        }
        // The CSRF cookie is set and cleared with the (HttpOnly) session cookie: without it there is
        // no session to ask about.
        if (!credentials.csrfToken()) {
          state.mode = 'none';
          return $q.resolve(null);
        }
        return $http.get('/auth/session', { quietUnauthorized: true }).then(function () {
          state.mode = 'session';
          return loadViewer();
        }, function () {
          state.mode = 'none';
          return null;
        }).catch(function () { return null; });
      }

      function forget() {
        credentials.clearToken();
        live.reset();
        state.mode = 'none';
        state.viewer = null;
        ready = $q.resolve(null);
      }

      var auth = {
        state: state,
        /** Resolves with the viewer (null when nobody is signed in); asks the server once. */
        ready: function () {
          if (!ready) { ready = start(); }
          return ready;
        },
        /** May the signed-in actor read (or `write`) this kind somewhere in its scopes? */
        can: function (kind, action) {
          var viewer = state.viewer;
          if (!viewer) { return false; }
          return viewer.permissions.some(function (p) { return p.kind === kind && p[action || 'read']; });
        },
        /** May the signed-in actor take `action` (approve, preview, apply ...) on some objects of
         *  this kind: now, or with `afterStepUp`, once it holds a fresh hardware-key proof? */
        may: function (kind, action, afterStepUp) {
          var viewer = state.viewer;
          if (!viewer) { return false; }
          return viewer.permissions.some(function (p) {
            return p.kind === kind && (p.actions.indexOf(action) >= 0 || (afterStepUp && p.actionsWithProof.indexOf(action) >= 0));
          });
        },
        signInWithToken: function (token) {
          token = (token || '').trim();
          if (!token) { return $q.reject(new Error('Paste an API token.')); }
          forget();
          credentials.setToken(token);
          state.mode = 'token';
          state.signingIn = true;
          ready = loadViewer().then(function (viewer) {
            if (!viewer) { throw new Error('The token does not sign anyone in.'); }
            state.notice = null;
            return viewer;
          }).catch(function (error) {
            forget();
            throw new Error(error && error.status === 401
              ? 'The token was refused: unknown, revoked or expired.' : ((error && error.message) || 'Sign-in failed.'));
          }).finally(function () { state.signingIn = false; });
          return ready;
        },
        /** Start an IdP login; the IdP sends the browser back to the console with a session cookie. */
        signInWithIdp: function (idpId) {
          idpId = (idpId || '').trim().toLowerCase();
          if (!IDP_ID.test(idpId)) {
            return $q.reject(new Error('An identity provider id is lower-case letters, digits and dashes.'));
          }
          $window.location.assign('/auth/' + encodeURIComponent(idpId) + '/login?return_to=' + encodeURIComponent('/console/'));
          return $q.resolve();
        },
        signOut: function () {
          var wasSession = state.mode === 'session';
          forget();
          var done = wasSession ? $http.post('/auth/logout', {}, { quietUnauthorized: true }).catch(angular.noop) : $q.resolve();
          return done.then(function () { $location.path('/signin').search({}); });
        },
        /** A 401 from the API: the credential is gone or refused; ask for a new sign-in. */
        expired: function () {
          if (state.signingIn || (state.mode === 'none' && !state.viewer)) { return; }
          forget();
          state.notice = 'Your sign-in was refused or has expired. Please sign in again.';
          state.noticeSeen = false;
          $location.path('/signin').search({});
        }
      };
      return auth;
    }]);
})(window.angular);
