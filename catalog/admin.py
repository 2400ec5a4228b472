from django.contrib import admin

from catalog.models import Product, StorePrice
from tenancy.admin import TenantModelAdmin


@admin.register(Product)
class ProductAdmin(TenantModelAdmin):
    list_display = ["sku", "barcode", "name", "category", "list_price", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["sku", "barcode", "name"]


@admin.register(StorePrice)
class StorePriceAdmin(TenantModelAdmin):
    list_display = ["product", "store", "price"]
    list_select_related = ["product", "store"]
