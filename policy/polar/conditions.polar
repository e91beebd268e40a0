# Attribute-based rules (ABAC): the gate every actor passes first, and conditions on objects.
#
# actor_ok(actor, action, kind, env): facts about the actor and the moment only (no object).
# condition(actor, binding, action, kind, env, predicate): each result is a predicate the object
#     must satisfy for `binding` to grant `action` on it. Predicates are the classes in
#     skyloom.policy.scopes (TagEquals, TagNotEquals, FieldIn, FieldNotEquals, FieldIsSet); list
#     filters turn them into SQL, so object conditions must be written as predicates here, never
#     as arbitrary tests inside allow_at.

# --- the actor gate ---------------------------------------------------------------------------
# The system actor (ingest workers, migrations) is not limited by roles.
unrestricted(actor) if actor.kind = "system";

# Anonymous callers get nothing; an optional working window ("hours" = "08-18", UTC) shuts the
# actor out at other times; provider-tier configuration needs a fresh hardware-key proof.
actor_ok(actor, action: String, kind: String, env) if
    actor.is_authenticated and
    env.within_hours(actor) and
    (not proof_required(action, kind) or actor.has_fresh_proof(env.now));

proof_required(action: String, kind: String) if write_action(action) and kind_family(kind, "provider_config");
proof_required("impersonate", "SubTenant");
# Provisioning a client's cloud from a design is a provider-tier act.
proof_required("apply", "Design");

# --- conditions on objects --------------------------------------------------------------------
# CIs classified restricted: only for sessions with a second factor or stronger.
condition(actor, _binding, _action: String, kind: String, _env, predicate) if
    kind_family(kind, "ci") and
    actor.auth_strength < AuthStrength.MULTI_FACTOR and
    predicate = new TagNotEquals("data-classification", "restricted");

# Production CIs change only through tenant-admin (or higher) bindings. Written with `not` so a
# role without a tier is held to the stricter rule.
condition(_actor, binding, action: String, kind: String, _env, predicate) if
    write_action(action) and
    kind_family(kind, "ci") and
    not tier_at_least(binding.role, Tier.TENANT_ADMIN) and
    predicate = new TagNotEquals("environment", "production");

# Actors limited to some regions or clouds (attributes "regions", "clouds": comma-separated).
condition(actor, _binding, _action: String, kind: String, _env, predicate) if
    kind_family(kind, "ci") and
    regions = actor.attributes.regions and
    predicate = FieldIn.from_csv("region", regions);
condition(actor, _binding, _action: String, kind: String, _env, predicate) if
    kind_family(kind, "ci") and
    clouds = actor.attributes.clouds and
    predicate = FieldIn.from_csv("cloud", clouds);

# Provider-level users, groups and role bindings (the root group, its members, provider
# operator grants) change only with a fresh proof; without one, writes reach tenant-level
# objects only.
condition(actor, _binding, action: String, kind: String, env, predicate) if
    write_action(action) and
    kind_family(kind, "access") and
    not actor.has_fresh_proof(env.now) and
    predicate = new FieldIsSet("tenant_id");

# Two people for an impersonation: whoever asked may not approve.
condition(actor, _binding, "approve", "ImpersonationRequest", _env, predicate) if
    predicate = new FieldNotEquals("created_by", actor.id);
