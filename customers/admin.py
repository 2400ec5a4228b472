"""Read-only admin views of members for HQ administrators.

Every change to a member goes through customers.services (validation and audit), so the
admin only reads; the full phone is left out because a PII read there would not be audited.
"""

from django.contrib import admin

from customers.models import Customer, ImportJob, Segment, Tag
from tenancy.admin import ReadOnlyTenantModelAdmin


@admin.register(Customer)
class CustomerAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["card_number", "name", "masked_phone", "home_store", "tier_name", "is_erased"]
    list_filter = ["is_erased", "marketing_consent"]
    search_fields = ["card_number", "name"]
    list_select_related = ["home_store"]
    exclude = ["phone"]


@admin.register(Tag)
class TagAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["name", "is_preset"]


@admin.register(Segment)
class SegmentAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["name", "description", "updated_at"]


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["original_name", "status", "total_rows", "created_count", "updated_count"]
    list_filter = ["status"]
