from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.product_list, name="product_list"),
    path("new/", views.product_create, name="product_create"),
    path("import/", views.product_import, name="product_import"),
    path("export/", views.product_export, name="product_export"),
    path("settings/", views.catalog_settings, name="settings"),
    path("<int:product_id>/", views.product_edit, name="product_edit"),
    path("<int:product_id>/store-price/", views.store_price, name="store_price"),
]
