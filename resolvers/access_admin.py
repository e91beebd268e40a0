"""The configuration API of the panel in two mixins, so the Query and Mutation roots take it in one line each."""

from __future__ import annotations

import strawberry

from skyloom.resolvers.bindings import BindingMutation, BindingQuery
from skyloom.resolvers.identity_admin import IdentityProviderMutation, IdentityProviderQuery
from skyloom.resolvers.keys import KeyMutation, KeyQuery
from skyloom.resolvers.provider_config import ProviderConfigMutation, ProviderConfigQuery
from skyloom.resolvers.step_up import StepUpMutation
from skyloom.resolvers.users import UserMutation, UserQuery
from skyloom.resolvers.viewer import ViewerQuery


@strawberry.type
class AccessQuery(ViewerQuery, KeyQuery, ProviderConfigQuery, IdentityProviderQuery, UserQuery, BindingQuery):
    """viewer, registeredKeys, hsmSettings, policyStatus, policyCheck, roles, identityProviders, users, groups,
    groupMembers, apiTokens, roleBindings."""


@strawberry.type
class AccessMutation(StepUpMutation, KeyMutation, ProviderConfigMutation, IdentityProviderMutation, UserMutation,
                     BindingMutation):
    """stepUp*, registeredKey*, webauthnRegister*, hsmSettingsUpdate, policyReload, identityProvider*, groupRoleMapping*,
    serviceAccountCreate, groupCreate, groupMember*, userDisable/Enable, apiToken*, roleBinding*."""
