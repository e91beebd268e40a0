# Kinds and actions the default policy talks about.
#
# Every object the panel shows has one kind (the same name as its GraphQL type and graph label).
# Kinds are grouped into families so roles can be granted per family:
#   ci              - configuration items of the CMDB (the semantic vocabulary)
#   panel           - the panel hierarchy: Provider, CloudBackend, Tenant, SubTenant, Stack
#   access          - users, groups and role bindings
#   provider_config - installation-wide settings that only a provider operator with a fresh
#                     hardware proof may change
#   impersonation   - impersonation settings and requests
#   audit           - audit entries (written by the system only)
#   planner         - architecture designs a client's cloud is bootstrapped from

# One fact per kind (facts are indexed: cheaper than list membership on every decision).

kind_family("Tenancy", "ci");
kind_family("Compartment", "ci");
kind_family("Network", "ci");
kind_family("Subnet", "ci");
kind_family("SecurityRule", "ci");
kind_family("LoadBalancer", "ci");
kind_family("ComputeInstance", "ci");
kind_family("KubernetesCluster", "ci");
kind_family("Function", "ci");
kind_family("Database", "ci");
kind_family("ObjectStore", "ci");
kind_family("Volume", "ci");
kind_family("Identity", "ci");
kind_family("Secret", "ci");
kind_family("Dns", "ci");
kind_family("Messaging", "ci");
kind_family("Gateway", "ci");
kind_family("RouteTable", "ci");
kind_family("IpAddress", "ci");
kind_family("NetworkInterface", "ci");
kind_family("LogStore", "ci");
kind_family("Resource", "ci");

kind_family("Provider", "panel");
kind_family("CloudBackend", "panel");
kind_family("Tenant", "panel");
kind_family("SubTenant", "panel");
kind_family("Stack", "panel");

kind_family("User", "access");
kind_family("Group", "access");
kind_family("RoleBinding", "access");

kind_family("IdentityProvider", "provider_config");
kind_family("PolicyFile", "provider_config");
kind_family("HsmSettings", "provider_config");
kind_family("RegisteredKey", "provider_config");
kind_family("IsolationSettings", "provider_config");

kind_family("ImpersonationSettings", "impersonation");
kind_family("ImpersonationRequest", "impersonation");

kind_family("AuditEntry", "audit");

kind_family("Design", "planner");

# read, create, update, delete: the object itself. configure: change the settings an object
# carries (a tenant's isolation mode, an identity provider's keys). impersonate: act inside a
# sub-tenant as its root user. approve: the second step of an impersonation request.
# read_audit: read the audit trail of a provider, tenant or sub-tenant. preview: run a design's
# generated program without touching a cloud; apply: run it for real (provision a client's cloud).
crud(action: String) if action in ["read", "create", "update", "delete"];
write_action(action: String) if action in ["create", "update", "delete", "configure"];
