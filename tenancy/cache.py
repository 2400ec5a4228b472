"""Cache keys for tenant data always carry the tenant, so one tenant never reads another's."""

from tenancy.context import current_tenant


def tenant_cache_key(*parts: object) -> str:
    """`t<tenant id>:part:part...` for the current tenant (raises if none is selected)."""
    return ":".join([f"t{current_tenant().pk}", *map(str, parts)])
