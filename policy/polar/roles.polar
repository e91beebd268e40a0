# Roles: their tier, where they may be bound, and what they grant.
#
# A binding of `role` at a scope (provider, tenant, sub-tenant: a TenantRoleBinding; a
# compartment: a RoleBinding that covers the compartment's whole subtree) grants `action` on
# objects of `kind` inside that scope when
#     grants(role, action, kind, scope_kind)
# holds. The adapter asks this rule both for single decisions and to build list filters, so keep
# it a pure function of its four strings: conditions on the actor or the object belong in
# conditions.polar.

# Tiers follow skyloom.policy.actor.Tier: provider operator > tenant admin > sub-tenant admin >
# user > read-only.
role_tier("provider-operator", 5);
role_tier("tenant-admin", 4);
role_tier("subtenant-admin", 3);
role_tier("editor", 2);
role_tier("viewer", 1);
role_tier("auditor", 1);

tier_at_least(role: String, minimum: Integer) if role_tier(role, tier) and tier >= minimum;

# Where each role may be bound. A binding anywhere else grants nothing.
bindable("provider-operator", scope: String) if scope in ["installation", "provider"];
bindable("tenant-admin", "tenant");
bindable("subtenant-admin", "subtenant");
bindable("editor", scope: String) if scope in ["tenant", "subtenant", "compartment"];
bindable("viewer", scope: String) if scope in ["tenant", "subtenant", "compartment"];
bindable("auditor", scope: String) if scope in ["installation", "provider", "tenant", "subtenant", "compartment"];

# A compartment binding reaches only the CIs inside the compartment (never the tenancy that
# holds it, never panel or configuration objects); the other scopes reach every kind.
reaches("compartment", kind: String) if kind_family(kind, "ci") and kind != "Tenancy";
reaches(scope: String, kind: String) if scope in ["installation", "provider", "tenant", "subtenant"] and kind_family(kind, _);

grants(role: String, action: String, kind: String, scope_kind: String) if
    bindable(role, scope_kind) and
    reaches(scope_kind, kind) and
    may(role, action, kind);

# Creating and deleting providers reaches past any one provider: only an installation binding
# (the root group's, scope id "*") covers a provider that does not exist yet.
grants("provider-operator", action: String, "Provider", "installation") if action in ["create", "delete"];

# --- provider operator: runs the installation --------------------------------------------------
may("provider-operator", action: String, kind: String) if kind_family(kind, "ci") and crud(action);
may("provider-operator", action: String, "Provider") if action in ["read", "update", "configure", "read_audit"];
may("provider-operator", action: String, "CloudBackend") if crud(action) or action = "configure";
may("provider-operator", action: String, "Tenant") if crud(action) or action in ["configure", "read_audit"];
may("provider-operator", action: String, "SubTenant") if
    crud(action) or action in ["configure", "read_audit", "impersonate"];
may("provider-operator", action: String, "Stack") if crud(action);
may("provider-operator", action: String, kind: String) if kind_family(kind, "access") and crud(action);
may("provider-operator", action: String, kind: String) if
    kind_family(kind, "provider_config") and (crud(action) or action = "configure");
may("provider-operator", action: String, "ImpersonationSettings") if crud(action) or action = "configure";
may("provider-operator", action: String, "ImpersonationRequest") if action in ["read", "create", "approve", "delete"];
may("provider-operator", "read", "AuditEntry");
may("provider-operator", action: String, "Design") if crud(action) or action in ["preview", "apply"];

# --- tenant admin: one client, all its sub-tenants ---------------------------------------------
may("tenant-admin", action: String, kind: String) if kind_family(kind, "ci") and crud(action);
may("tenant-admin", action: String, "Tenant") if action in ["read", "update", "configure", "read_audit"];
may("tenant-admin", action: String, "SubTenant") if crud(action) or action in ["configure", "read_audit"];
may("tenant-admin", action: String, "Stack") if crud(action);
may("tenant-admin", action: String, kind: String) if kind_family(kind, "access") and crud(action);
may("tenant-admin", action: String, "ImpersonationSettings") if action in ["read", "update", "configure"];
may("tenant-admin", action: String, "ImpersonationRequest") if action in ["read", "approve"];
may("tenant-admin", "read", "AuditEntry");
# A client's admin may plan its cloud and preview the plan; provisioning it is the provider's.
may("tenant-admin", action: String, "Design") if crud(action) or action = "preview";

# --- sub-tenant admin: one sub-tenancy ---------------------------------------------------------
may("subtenant-admin", action: String, kind: String) if kind_family(kind, "ci") and crud(action);
may("subtenant-admin", action: String, "SubTenant") if action in ["read", "update", "read_audit"];
may("subtenant-admin", action: String, "Stack") if crud(action);
may("subtenant-admin", action: String, kind: String) if kind_family(kind, "access") and crud(action);
may("subtenant-admin", "read", "ImpersonationSettings");
may("subtenant-admin", "read", "ImpersonationRequest");
may("subtenant-admin", "read", "AuditEntry");

# --- users: editors change CIs and stacks, viewers only look ----------------------------------
may("viewer", "read", kind: String) if kind_family(kind, "ci") or kind in ["Tenant", "SubTenant", "Stack"];
may("editor", "read", kind: String) if may("viewer", "read", kind);
may("editor", action: String, kind: String) if
    kind_family(kind, "ci") and kind != "Tenancy" and action in ["create", "update", "delete"];
may("editor", action: String, "Stack") if action in ["create", "update"];

# --- auditor: reads everything in scope, the audit trail included; writes nothing ---------------
may("auditor", "read", kind: String) if kind_family(kind, _);
may("auditor", "read_audit", kind: String) if kind in ["Provider", "Tenant", "SubTenant"];
