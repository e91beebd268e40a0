/*
 * What the administration pages share:
 *  - `adminKit.places()`: the providers, tenants and sub-tenants the viewer may see, by name, and
 *    the choices of each scope kind for forms (read once per signed-in actor);
 *  - `adminKit.run(form, work, onDone)`: run a change and keep its typed problem on the form;
 *  - `adminKit.refreshViewer()`: read `viewer` again after a step-up, so the menu and the buttons
 *    follow the new permissions;
 *  - `<sky-problem of="form" retry="...">`: the server's problem next to its form, with the step-up
 *    offer when the server says a fresh hardware-key proof would allow the change;
 *  - `<sky-step-up on-done="...">`: the step-up itself (HSM challenge to sign with
 *    `skyloom proof sign`, or a security key through navigator.credentials.get);
 *  - `<sky-binding-form subject-kind="..." subject-id="..." on-created="...">`: grant a role at a scope.
 * Nothing here validates input: the API does, and answers with typed problems.
 */
(function (angular) {
  'use strict';

  var SCOPE_TITLES = {
    INSTALLATION: 'Installation', PROVIDER: 'Provider', TENANT: 'Tenant', SUB_TENANT: 'Sub-tenant', COMPARTMENT: 'Compartment'
  };

  // base64url <-> ArrayBuffer, for the WebAuthn options and answers (the API speaks base64url).
  function toBuffer(text) {
    var b64 = String(text).replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) { b64 += '='; }
    var raw = atob(b64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = '';
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  angular.module('skyloom')
    .factory('adminKit', ['$q', 'graphql', 'auth', function ($q, graphql, auth) {
      var cache = { key: null, promise: null }, people = { key: null, promise: null };

      function choice(id, label) { return { id: id, label: label }; }

      function loadPlaces() {
        var out = {
          providers: [], tenants: [], subTenants: [], names: { '*': 'the installation' }, byTenant: {},
          choices: { INSTALLATION: [choice('*', 'the installation (*)')], PROVIDER: [], TENANT: [], SUB_TENANT: [], COMPARTMENT: [] }
        };
        function addSubTenant(sub, tenantId) {
          if (out.names[sub.id]) { return; }
          var tenantName = out.names[tenantId];
          var label = (tenantName ? tenantName + ' › ' : '') + (sub.displayName || sub.name);
          out.subTenants.push({ id: sub.id, name: sub.name, displayName: sub.displayName, tenantId: tenantId });
          out.names[sub.id] = label;
          out.choices.SUB_TENANT.push(choice(sub.id, label));
          if (tenantId) { (out.byTenant[tenantId] = out.byTenant[tenantId] || []).push(choice(sub.id, sub.displayName || sub.name)); }
        }
        function page(after) {
          return graphql.query('AdminPlaces', { after: after }).then(function (data) {
            if (!after) {
              data.providers.forEach(function (p) {
                out.providers.push(p);
                out.names[p.id] = p.displayName || p.name;
                out.choices.PROVIDER.push(choice(p.id, p.displayName || p.name));
              });
            }
            data.tenants.edges.forEach(function (edge) {
              var t = edge.node;
              out.tenants.push(t);
              out.names[t.id] = t.displayName || t.name;
              out.choices.TENANT.push(choice(t.id, t.displayName || t.name));
              t.subTenants.forEach(function (sub) { addSubTenant(sub, t.id); });
            });
            return data.tenants.pageInfo.hasNextPage ? page(data.tenants.pageInfo.endCursor) : out;
          });
        }
        // A sub-tenant's admin may not read its tenant: ask for its sub-tenants one by one.
        function ownSubTenants() {
          var viewer = auth.state.viewer || { bindings: [] };
          var ids = viewer.bindings.filter(function (b) { return b.scopeKind === 'SUB_TENANT' && !out.names[b.scopeId]; })
            .map(function (b) { return b.scopeId; });
          if (viewer.homeSubTenantId && !out.names[viewer.homeSubTenantId]) { ids.push(viewer.homeSubTenantId); }
          return $q.all(ids.filter(function (id, i) { return ids.indexOf(id) === i; }).map(function (id) {
            return graphql.query('AdminSubTenant', { id: id }).then(function (data) {
              if (data.subTenant) { addSubTenant(data.subTenant, data.subTenant.tenant && data.subTenant.tenant.id); }
            });
          })).then(function () { return out; });
        }
        return page(null).then(ownSubTenants);
      }

      var kit = {
        scopeTitles: SCOPE_TITLES,
        /** Providers, tenants and sub-tenants the viewer may see (once per signed-in actor). */
        places: function () {
          var key = auth.state.viewer ? auth.state.viewer.id : null;
          if (!cache.promise || cache.key !== key) {
            cache.key = key;
            cache.promise = loadPlaces();
            cache.promise.catch(function () { cache.promise = null; });
          }
          return cache.promise;
        },
        /**
         * Names of actors by actor id ("user:<id>", "service:<id>", "group:<id>"), and of users and
         * groups by bare id: the first hundred users and groups the viewer may see (others show their id).
         */
        directory: function () {
          var key = auth.state.viewer ? auth.state.viewer.id : null;
          if (!people.promise || people.key !== key) {
            people.key = key;
            people.promise = graphql.query('AdminDirectory').then(function (data) {
              var names = {};
              data.users.edges.forEach(function (e) {
                names[e.node.id] = e.node.displayName;
                names[e.node.kind.toLowerCase() + ':' + e.node.id] = e.node.displayName;
              });
              data.groups.edges.forEach(function (e) { names[e.node.id] = e.node.name; names['group:' + e.node.id] = e.node.name; });
              return names;
            });
            people.promise.catch(function () { people.promise = null; });
          }
          return people.promise;
        },
        /** "Tenant Contoso Ltd." for a scope, or its id when the viewer cannot see its name. */
        scopeLabel: function (places, kind, id) {
          var name = places && places.names[id];
          return (SCOPE_TITLES[kind] || kind) + ' ' + (name || id);
        },
        /** Where a user or group lives, by name: sub-tenant, else tenant, else provider. */
        homeLabel: function (places, item) {
          if (!item) { return ''; }
          var id = item.homeSubTenantId || item.homeTenantId || item.homeProviderId;
          if (!id) { return 'the installation'; }
          return (places && places.names[id]) || id;
        },
        /** May the viewer change `kind` now (`write`), or after a step-up (`writeWithProof`)? */
        can: function (kind, action) { return auth.can(kind, action || 'write'); },
        mayChange: function (kind) { return auth.can(kind, 'write') || auth.can(kind, 'writeWithProof'); },
        needsStepUp: function (kind) { return !auth.can(kind, 'write') && auth.can(kind, 'writeWithProof'); },
        /**
         * Run `work()` (a promise of a mutation's outcome) for a form: busy while it runs, the
         * failure's readable text and typed problem kept on the form, `onDone(result)` on success.
         * Always resolves (with the result, or null after a failure): the form shows what happened.
         */
        run: function (form, work, onDone) {
          form.busy = true;
          form.error = null;
          form.problem = null;
          form.needsProof = false;
          return $q.when().then(work).then(function (result) {
            return onDone ? $q.when(onDone(result)).then(function () { return result; }) : result;
          }, function (failure) {
            var problem = failure && failure.problem;
            form.error = (failure && failure.message) || 'The request failed.';
            form.problem = problem || null;
            form.needsProof = !!((problem && problem.needsProof) ||
              (failure && failure.codes && failure.codes.indexOf('PROOF_REQUIRED') >= 0));
            return null;
          }).finally(function () { form.busy = false; });
        },
        /**
         * A cursor-paged list kept on `holder`: the returned `load(more)` asks `operation` for the
         * first (or next) page of the connection `field` with `variables()` and keeps the nodes in
         * `holder[key]`, with `holder.page`, `.loading` and `.error`. Only the newest request's answer
         * shows: answers may arrive out of order.
         */
        pager: function (holder, operation, field, key, variables) {
          var loads = 0;
          return function (more) {
            var mine = ++loads;
            holder.loading = true;
            holder.error = null;
            var asked = angular.extend({}, variables(), { after: more ? holder.page.endCursor : null });
            return graphql.query(operation, asked).then(function (data) {
              if (mine !== loads) { return; }
              var nodes = data[field].edges.map(function (e) { return e.node; });
              holder[key] = more ? holder[key].concat(nodes) : nodes;
              holder.page = data[field].pageInfo;
            }, function (failure) { holder.error = failure.message; }).finally(function () { holder.loading = false; });
          };
        },
        /** Forget a form's last outcome (e.g. when another item is selected). */
        reset: function (form) {
          form.error = null;
          form.problem = null;
          form.needsProof = false;
          form.busy = false;
        },
        /** Read `viewer` again (after a step-up): the shell's menu and every button follow it. */
        refreshViewer: function () {
          return graphql.query('Viewer').then(function (data) {
            if (data.viewer.authenticated) { auth.state.viewer = data.viewer; }
            return data.viewer;
          });
        },
        json: function (value) { return value === null || value === undefined ? '' : JSON.stringify(value, null, 2); },
        toBuffer: toBuffer,
        toBase64url: toBase64url
      };
      return kit;
    }])

    /* The server's problem next to a form; when a fresh hardware-key proof would allow the change,
       the step-up right there, and the change is retried once the proof is fresh. */
    .directive('skyProblem', function () {
      return {
        restrict: 'E',
        scope: { of: '<', retry: '&?' },
        templateUrl: 'app/admin/problem.html',
        controller: ['$scope', function ($scope) {
          $scope.stepped = function () {
            if ($scope.retry) { $scope.retry(); }
          };
        }]
      };
    })

    /* Step-up of this browser session: begin, sign (HSM) or touch the key (WebAuthn), complete. */
    .directive('skyStepUp', function () {
      return {
        restrict: 'E',
        scope: { onDone: '&?' },
        templateUrl: 'app/admin/step-up.html',
        controllerAs: 'su',
        bindToController: true,
        controller: ['$q', '$window', 'graphql', 'adminKit', function ($q, $window, graphql, kit) {
          var su = this;
          su.form = {};
          su.state = null;
          su.method = 'HSM';
          su.challenge = null;
          su.challengeText = '';
          su.proofText = '';
          su.done = null;

          function loadState() {
            return graphql.query('AdminStepUpState').then(function (data) {
              su.state = data.viewer;
              if (su.state.stepUpMethods.indexOf(su.method) < 0) { su.method = su.state.stepUpMethods[0]; }
            }, function (failure) { su.form.error = failure.message; });
          }

          function finish(proof) {
            return kit.run(su.form, function () {
              return graphql.mutate('AdminStepUpComplete', { challengeId: su.challenge.challengeId, proof: proof })
                .then(function (data) { return graphql.outcome(data.stepUpComplete); });
            }, function (viewer) {
              su.done = viewer;
              su.challenge = null;
              su.proofText = '';
              return $q.all([loadState(), kit.refreshViewer()]).then(function () {
                if (su.onDone) { su.onDone(); }
              });
            });
          }

          su.begin = function () {
            su.done = null;
            su.challenge = null;
            return kit.run(su.form, function () {
              return graphql.mutate('AdminStepUpBegin', { method: su.method })
                .then(function (data) { return graphql.outcome(data.stepUpBegin); });
            }, function (challenge) {
              su.challenge = challenge;
              su.challengeText = challenge.challenge ? JSON.stringify(challenge.challenge, null, 2) : '';
              if (challenge.method === 'WEBAUTHN') { return su.useSecurityKey(); }
            });
          };

          /** The pasted `skyloom proof sign` output; text that is not JSON goes as it is, and the server says why not. */
          su.complete = function () {
            var proof;
            try { proof = JSON.parse(su.proofText); } catch (e) { proof = su.proofText; }
            return finish(proof);
          };

          su.useSecurityKey = function () {
            var options = JSON.parse(JSON.stringify(su.challenge.publicKeyOptions)).publicKey;   // a copy to decode in
            options.challenge = kit.toBuffer(options.challenge);
            (options.allowCredentials || []).forEach(function (c) { c.id = kit.toBuffer(c.id); });
            return kit.run(su.form, function () {
              return $q.when($window.navigator.credentials.get({ publicKey: options }));
            }, function (credential) {
              var r = credential.response;
              return finish({
                id: credential.id, rawId: kit.toBase64url(credential.rawId), type: credential.type, clientExtensionResults: {},
                response: {
                  clientDataJSON: kit.toBase64url(r.clientDataJSON), authenticatorData: kit.toBase64url(r.authenticatorData),
                  signature: kit.toBase64url(r.signature), userHandle: r.userHandle ? kit.toBase64url(r.userHandle) : null
                }
              });
            });
          };

          su.copy = function () {
            var clipboard = $window.navigator.clipboard;
            if (clipboard && clipboard.writeText) { $q.when(clipboard.writeText(su.challengeText)).catch(angular.noop); }
          };

          loadState();
        }]
      };
    })

    /* Grant a role at a scope to one subject (a user, service account or group). */
    .directive('skyBindingForm', function () {
      return {
        restrict: 'E',
        scope: { subjectKind: '<', subjectId: '<', onCreated: '&?' },
        templateUrl: 'app/admin/binding-form.html',
        controllerAs: 'bf',
        bindToController: true,
        controller: ['graphql', 'adminKit', function (graphql, kit) {
          var bf = this;
          bf.form = {};
          bf.input = { role: null, scopeKind: null, scopeId: null };
          bf.roles = [];
          bf.places = null;
          bf.titles = kit.scopeTitles;

          graphql.query('AdminRoles').then(function (data) { bf.roles = data.roles; }, function (f) { bf.form.error = f.message; });
          kit.places().then(function (places) { bf.places = places; }, function (f) { bf.form.error = f.message; });

          bf.role = function () {
            return bf.roles.filter(function (r) { return r.name === bf.input.role; })[0] || null;
          };
          bf.roleChanged = function () {
            var role = bf.role();
            if (role && role.scopeKinds.indexOf(bf.input.scopeKind) < 0) { bf.input.scopeKind = role.scopeKinds[0] || null; }
            bf.scopeKindChanged();
          };
          bf.scopeKindChanged = function () {
            bf.input.scopeId = bf.input.scopeKind === 'INSTALLATION' ? '*' : null;
          };
          bf.grant = function () {
            return kit.run(bf.form, function () {
              return graphql.mutate('AdminBindingCreate', { input: {
                subjectKind: bf.subjectKind, subjectId: bf.subjectId, role: bf.input.role,
                scopeKind: bf.input.scopeKind, scopeId: bf.input.scopeId
              } }).then(function (data) { return graphql.outcome(data.roleBindingCreate); });
            }, function (binding) {
              bf.form.done = 'Granted ' + binding.role + ' at ' + kit.scopeLabel(bf.places, binding.scopeKind, binding.scopeId) + '.';
              if (bf.onCreated) { bf.onCreated({ binding: binding }); }
            });
          };
        }]
      };
    });
})(window.angular);
