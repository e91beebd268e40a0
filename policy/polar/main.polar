# Entry point of the Skyloom policy. The adapter (skyloom.policy.adapter) asks
#     allow_at(actor, action, resource, env)
# for single decisions (not Oso's allow/3: the decision time is an argument, so decisions are
# pure and tests can pin the clock), and builds list filters from the same parts: unrestricted, actor_ok,
# grants and condition. Keep allow_at in this shape, or lists and single objects will disagree
# (`skyloom policy check` compares them for every test case).
#
# Classes known to the policy: Principal (the actor; skyloom.policy.actor.Actor), Binding, Env
# (the decision time), Ci / PanelObject / ConfigObject (the resources), Tier and AuthStrength
# (dictionaries of their members, e.g. Tier.TENANT_ADMIN = 4), the
# predicate classes, and Scopes (Scopes.covers(binding, resource): is the object inside the
# binding's scope).

type grants(role: String, action: String, kind: String, scope_kind: String);
type role_tier(role: String, tier: Integer);

allow_at(actor: Principal, _action: String, _resource, _env: Env) if unrestricted(actor);

allow_at(actor: Principal, action: String, resource, env: Env) if
    binding in actor.bindings and
    Scopes.covers(binding, resource) and
    kind = resource.kind and
    role = binding.role and
    scope_kind = binding.scope_kind and
    grants(role, action, kind, scope_kind) and
    actor_ok(actor, action, kind, env) and
    forall(condition(actor, binding, action, kind, env, predicate), predicate.matches(resource));
