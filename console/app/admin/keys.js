/* Hardware keys and step-up: the registered keys (HSM public keys, FIDO2 security keys), registering
   and revoking them, the root group (who operates the whole installation, and the provider-level
   groups), and the step-up of this browser session. */
(function (angular) {
  'use strict';

  var MAX_GROUP_PAGES = 10;

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'keys', path: '/admin/keys', title: 'Keys and step-up', section: 'Administration', order: 50,
        templateUrl: 'app/admin/keys.html', controller: 'KeysController', requires: ['RegisteredKey']
      });
    }])
    .controller('KeysController', ['$q', '$window', 'graphql', 'adminKit', function ($q, $window, graphql, kit) {
      var vm = this;
      vm.kit = kit;
      vm.places = null;
      vm.keys = [];
      vm.filter = { owner: '', includeRevoked: false };
      vm.error = null;
      vm.hsm = { label: '', pem: '', form: {} };
      vm.webauthn = { label: '', form: {} };
      vm.state = null;
      vm.root = { bindings: [], groups: [], members: {}, partial: false };
      vm.names = {};

      kit.places().then(function (places) { vm.places = places; }, function (failure) { vm.error = failure.message; });
      graphql.query('AdminStepUpState').then(function (data) { vm.state = data.viewer; }, function (failure) { vm.error = failure.message; });
      kit.directory().then(function (names) { vm.names = names; }, angular.noop);

      vm.actorName = function (actorId) { return vm.names[actorId] || actorId; };

      vm.load = function () {
        vm.error = null;
        return graphql.query('AdminKeys', { owner: vm.filter.owner || null, includeRevoked: vm.filter.includeRevoked })
          .then(function (data) { vm.keys = data.registeredKeys; }, function (failure) { vm.error = failure.message; });
      };

      /** Who operates the whole installation (bindings at INSTALLATION scope) and the groups with no tenant. */
      function loadRootGroup() {
        var pages = 0, groups = [];
        function page(after) {
          pages += 1;
          return graphql.query('AdminRootGroup', { after: after }).then(function (data) {
            vm.root.bindings = data.roleBindings.edges.map(function (e) { return e.node; });
            groups = groups.concat(data.groups.edges.map(function (e) { return e.node; })
              .filter(function (g) { return !g.homeTenantId && !g.homeSubTenantId; }));
            if (data.groups.pageInfo.hasNextPage && pages < MAX_GROUP_PAGES) { return page(data.groups.pageInfo.endCursor); }
            vm.root.partial = data.groups.pageInfo.hasNextPage;
            vm.root.groups = groups;
            return $q.all(groups.map(function (g) {
              return graphql.query('AdminGroupMembers', { groupId: g.id }).then(function (m) { vm.root.members[g.id] = m.groupMembers; });
            }));
          });
        }
        return page(null).catch(function (failure) { vm.error = failure.message; });
      }

      vm.addHsmKey = function () {
        return kit.run(vm.hsm.form, function () {
          return graphql.mutate('AdminKeyAdd', { label: vm.hsm.label, publicKeyPem: vm.hsm.pem })
            .then(function (data) { return graphql.outcome(data.registeredKeyAdd); });
        }, function (key) {
          vm.hsm.form.done = 'Registered ' + key.label + ' (' + key.fingerprint + ').';
          vm.hsm.label = '';
          vm.hsm.pem = '';
          return vm.load();
        });
      };

      vm.addSecurityKey = function () {
        var w = vm.webauthn;
        return kit.run(w.form, function () {
          return graphql.mutate('AdminWebauthnRegisterBegin', { label: w.label })
            .then(function (data) { return graphql.outcome(data.webauthnRegisterBegin); })
            .then(function (begun) {
              var options = JSON.parse(JSON.stringify(begun.publicKeyOptions)).publicKey;   // a copy to decode in
              options.challenge = kit.toBuffer(options.challenge);
              options.user.id = kit.toBuffer(options.user.id);
              (options.excludeCredentials || []).forEach(function (c) { c.id = kit.toBuffer(c.id); });
              return $q.when($window.navigator.credentials.create({ publicKey: options })).then(function (credential) {
                return graphql.mutate('AdminWebauthnRegisterComplete', { challengeId: begun.challengeId, response: {
                  id: credential.id, rawId: kit.toBase64url(credential.rawId), type: credential.type, clientExtensionResults: {},
                  response: {
                    clientDataJSON: kit.toBase64url(credential.response.clientDataJSON),
                    attestationObject: kit.toBase64url(credential.response.attestationObject)
                  }
                } });
              });
            })
            .then(function (data) { return graphql.outcome(data.webauthnRegisterComplete); });
        }, function (key) {
          w.form.done = 'Registered ' + key.label + '.';
          w.label = '';
          return vm.load();
        });
      };

      vm.revoke = function (key) {
        key.form = key.form || {};
        return kit.run(key.form, function () {
          return graphql.mutate('AdminKeyRevoke', { id: key.id }).then(function (data) { return graphql.outcome(data.registeredKeyRevoke); });
        }, vm.load);
      };

      vm.stepped = function () {
        return graphql.query('AdminStepUpState').then(function (data) { vm.state = data.viewer; });
      };

      vm.load();
      loadRootGroup();
    }]);
})(window.angular);
