"""The POS JSON API, mounted at /api/v1/ (see docs/api.md)."""

from django.urls import path

from analytics import api

app_name = "api"

urlpatterns = [
    path("sales/", api.sales_create, name="sales_create"),
]
