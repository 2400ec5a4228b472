"""Admin for HQ administrators. Codes are never edited here: stores get them only through
an approved application or an import, so code, region and type are read-only."""

from django.contrib import admin

from stores.models import (
    ApplicationDocument,
    Region,
    Store,
    StoreCodeApplication,
    StoreCodeCounter,
    StoreCodeHistory,
    StoreReview,
    StoreType,
)
from tenancy.admin import ReadOnlyTenantModelAdmin, TenantModelAdmin


class SetupAdmin(TenantModelAdmin):
    """Regions and types: a code in use cannot change and nothing is deleted (deactivate)."""

    list_display = ["code", "name", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Region)
class RegionAdmin(SetupAdmin):
    list_display = ["code", "name", "parent", "is_active"]


@admin.register(StoreType)
class StoreTypeAdmin(SetupAdmin):
    pass


@admin.register(Store)
class StoreAdmin(TenantModelAdmin):
    list_display = ["code", "name", "region", "store_type", "status", "next_review_on"]
    list_filter = ["status", "region", "store_type"]
    search_fields = ["code", "name", "code_history__code"]
    readonly_fields = ["code", "region", "store_type", "status", "next_review_on"]
    fields = [
        "code",
        "name",
        "region",
        "store_type",
        "status",
        "address",
        "phone",
        "opened_on",
        "next_review_on",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # stores come from approved applications or an import

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a store's code must stay on record


@admin.register(StoreCodeCounter)
class StoreCodeCounterAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["region", "store_type", "last_sequence"]


@admin.register(StoreCodeHistory)
class StoreCodeHistoryAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["code", "store", "issued_at", "retired_at", "reason_text"]
    search_fields = ["code", "store__name"]


@admin.register(StoreCodeApplication)
class StoreCodeApplicationAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["id", "kind", "store_name", "region", "store_type", "status", "issued_code"]
    list_filter = ["status", "kind"]
    search_fields = ["store_name", "issued_code", "previous_code"]


@admin.register(ApplicationDocument)
class ApplicationDocumentAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["original_name", "application", "size", "uploaded_at"]


@admin.register(StoreReview)
class StoreReviewAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["store", "due_on", "status", "reviewed_at"]
    list_filter = ["status"]
