"""Read-only admin views of members for HQ administrators.

Every change to a member goes through customers.services (validation and audit), so the
admin only reads; the full phone is left out because a PII read there would not be audited.
"""

from django.contrib import admin

from customers.models import Customer, ImportJob, Segment, Tag
from tenancy.admin import ReadOnlyTenantModelAdmin
from tenancy.encryption import name_index


@admin.register(Customer)
class CustomerAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["card_number", "name", "masked_phone", "home_store", "tier_name", "is_erased"]
    list_filter = ["is_erased", "marketing_consent"]
    search_fields = ["card_number"]
    list_select_related = ["home_store"]
    exclude = ["phone"]

    def get_search_results(self, request, queryset, search_term):
        """Card number as typed, or the exact name through its blind index (names are
        encrypted, so no partial match)."""
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            queryset |= self.model.objects.filter(name_hash=name_index(search_term))
        return queryset, may_have_duplicates


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
