/* OIDC and SAML identity providers: list, create, edit settings (secrets only ever named by an
   environment variable, the `*_env` keys), the auto-create and enabled switches, and each
   provider's group -> role mappings. All of it is provider configuration: a fresh proof. */
(function (angular) {
  'use strict';

  var LISTS = ['scopes', 'algorithms'];
  var CLAIMS = ['groups', 'email', 'display_name', 'multi_factor_contexts'];
  var FIELDS = {
    OIDC: ['issuer', 'client_id', 'client_secret_env', 'scopes', 'algorithms', 'use_userinfo'],
    SAML: ['idp_metadata_xml', 'idp_entity_id', 'sp_entity_id', 'sp_key_file_env', 'sp_cert_file_env', 'want_response_signed']
  };
  var SWITCHES = ['use_userinfo', 'want_response_signed'];

  function splitList(text) {
    return String(text || '').split(',').map(function (s) { return s.trim(); }).filter(function (s) { return s; });
  }

  /** The form's fields from stored settings (lists as comma-separated text, switches as yes / no / default). */
  function formOf(settings) {
    var form = { claims: {} };
    Object.keys(settings || {}).forEach(function (key) {
      var value = settings[key];
      if (key === 'claims') {
        CLAIMS.forEach(function (c) { form.claims[c] = (value[c] || []).join(', '); });
      } else if (SWITCHES.indexOf(key) >= 0) {
        form[key] = value ? 'yes' : 'no';
      } else if (LISTS.indexOf(key) >= 0) {
        form[key] = (value || []).join(', ');
      } else {
        form[key] = value;
      }
    });
    return form;
  }

  /** Settings from the form: only what was filled in (the server checks every key and value). */
  function settingsOf(kind, form) {
    var settings = {};
    (FIELDS[kind] || []).forEach(function (key) {
      var value = form[key];
      if (SWITCHES.indexOf(key) >= 0) {
        if (value === 'yes' || value === 'no') { settings[key] = value === 'yes'; }
      } else if (LISTS.indexOf(key) >= 0) {
        if (splitList(value).length) { settings[key] = splitList(value); }
      } else if (value !== undefined && value !== null && String(value).trim() !== '') {
        settings[key] = String(value).trim();
      }
    });
    var claims = {};
    CLAIMS.forEach(function (c) {
      var names = splitList(form.claims && form.claims[c]);
      if (names.length) { claims[c] = names; }
    });
    if (Object.keys(claims).length) { settings.claims = claims; }
    return settings;
  }

  angular.module('skyloom')
    .config(['pagesProvider', function (pages) {
      pages.register({
        id: 'identity-providers', path: '/admin/identity-providers', title: 'Identity providers', section: 'Administration',
        order: 40, templateUrl: 'app/admin/identity-providers.html', controller: 'IdentityProvidersController',
        requires: ['IdentityProvider']
      });
    }])
    .controller('IdentityProvidersController', ['graphql', 'adminKit', function (graphql, kit) {
      var vm = this;
      vm.kit = kit;
      vm.claims = CLAIMS;
      vm.places = null;
      vm.idps = [];
      vm.error = null;
      vm.selected = null;
      vm.edit = null;
      vm.creating = null;
      vm.roles = [];
      vm.mapping = { input: {}, form: {} };

      kit.places().then(function (places) { vm.places = places; }, function (failure) { vm.error = failure.message; });
      graphql.query('AdminRoles').then(function (data) { vm.roles = data.roles; }, function (failure) { vm.error = failure.message; });

      vm.load = function () {
        return graphql.query('AdminIdentityProviders').then(function (data) {
          vm.idps = data.identityProviders;
          vm.idps.forEach(function (idp) { idp.settingsRows = settingsRows(idp); });
          if (vm.selected) {
            vm.selected = vm.idps.filter(function (i) { return i.id === vm.selected.id; })[0] || null;
          }
        }, function (failure) { vm.error = failure.message; });
      };

      /** The stored settings as (key, text) rows, made once per load (a repeat needs stable rows). */
      function settingsRows(idp) {
        return Object.keys(idp.settings || {}).sort().map(function (key) {
          var value = idp.settings[key];
          return { key: key, value: typeof value === 'string' ? value : JSON.stringify(value) };
        });
      }

      vm.select = function (idp) {
        vm.creating = null;
        vm.selected = idp;
        vm.edit = { name: idp.name, settings: formOf(idp.settings), form: {} };
        vm.mapping = { input: { groupName: '', role: null, scopeKind: null, scopeId: null }, form: {} };
      };

      vm.startCreate = function () {
        vm.selected = null;
        vm.creating = {
          input: { id: '', kind: 'OIDC', name: '', providerId: null, tenantId: null, autoCreateUsers: false, autoCreateGroups: false, enabled: true },
          settings: { claims: {} }, form: {}
        };
        if (vm.places && vm.places.providers.length === 1) { vm.creating.input.providerId = vm.places.providers[0].id; }
      };

      vm.tenantChoices = function () { return vm.places ? vm.places.choices.TENANT : []; };

      vm.create = function () {
        var c = vm.creating;
        return kit.run(c.form, function () {
          var input = angular.extend({}, c.input, { settings: settingsOf(c.input.kind, c.settings) });
          if (!input.tenantId) { input.tenantId = null; }
          return graphql.mutate('AdminIdpCreate', { input: input }).then(function (data) { return graphql.outcome(data.identityProviderCreate); });
        }, function (created) {
          return vm.load().then(function () {
            var idp = vm.idps.filter(function (i) { return i.id === created.idp; })[0];
            if (idp) { vm.select(idp); vm.edit.form.done = 'Created.'; }
          });
        });
      };

      vm.save = function () {
        var idp = vm.selected, e = vm.edit;
        vm.lastEdit = vm.save;
        return kit.run(e.form, function () {
          return graphql.mutate('AdminIdpUpdate', { input: { id: idp.id, name: e.name, settings: settingsOf(idp.kind, e.settings) } })
            .then(function (data) { return graphql.outcome(data.identityProviderUpdate); });
        }, function () {
          return vm.load().then(function () { if (vm.selected) { vm.select(vm.selected); vm.edit.form.done = 'Saved.'; } });
        });
      };

      /** One switch: autoCreateUsers, autoCreateGroups or enabled. */
      vm.toggle = function (field) {
        var idp = vm.selected, input = { id: idp.id };
        input[field] = !idp[field];
        vm.lastEdit = function () { return vm.toggle(field); };
        return kit.run(vm.edit.form, function () {
          return graphql.mutate('AdminIdpUpdate', { input: input }).then(function (data) { return graphql.outcome(data.identityProviderUpdate); });
        }, function () {
          return vm.load().then(function () { if (vm.selected) { vm.select(vm.selected); vm.edit.form.done = 'Saved.'; } });
        });
      };

      /** After a step-up: the edit that needed it, again. */
      vm.retryEdit = function () { return vm.lastEdit ? vm.lastEdit() : null; };

      vm.role = function () { return vm.roles.filter(function (r) { return r.name === vm.mapping.input.role; })[0] || null; };
      vm.mappingRoleChanged = function () {
        var role = vm.role();
        if (role && role.scopeKinds.indexOf(vm.mapping.input.scopeKind) < 0) { vm.mapping.input.scopeKind = role.scopeKinds[0] || null; }
        vm.mapping.input.scopeId = vm.mapping.input.scopeKind === 'INSTALLATION' ? '*' : null;
      };

      vm.addMapping = function () {
        var m = vm.mapping;
        return kit.run(m.form, function () {
          return graphql.mutate('AdminMappingAdd', { input: angular.extend({ idpId: vm.selected.id }, m.input) })
            .then(function (data) { return graphql.outcome(data.groupRoleMappingAdd); });
        }, function () {
          return vm.load().then(function () {
            if (vm.selected) { vm.select(vm.selected); }
            vm.mapping.form.done = 'Mapped.';
          });
        });
      };

      vm.removeMapping = function (m) {
        m.form = m.form || {};
        return kit.run(m.form, function () {
          return graphql.mutate('AdminMappingRemove', { id: m.id }).then(function (data) { return graphql.outcome(data.groupRoleMappingRemove); });
        }, function () { return vm.load().then(function () { if (vm.selected) { vm.select(vm.selected); } }); });
      };

      vm.load();
    }])

    /* The settings fields of one kind of identity provider, bound to a plain object of form values. */
    .directive('skyIdpSettings', function () {
      return {
        restrict: 'E',
        scope: { kind: '<', values: '<' },
        templateUrl: 'app/admin/idp-settings.html',
        controllerAs: 's',
        bindToController: true,
        controller: function () { this.claims = CLAIMS; }
      };
    });
})(window.angular);
