from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard_home, name="dashboard"),
    path("stores/<int:store_id>/", views.store_dashboard, name="store_dashboard"),
    path("export/", views.report_download, name="export"),
    path("sales/", views.sale_list, name="sale_list"),
    path("sales/new/", views.counter_sale, name="counter_sale"),
    path("sales/<int:sale_id>/", views.sale_detail, name="sale_detail"),
    path("imports/", views.import_upload, name="import_upload"),
    path("imports/<int:import_id>/", views.import_detail, name="import_detail"),
    path("imports/<int:import_id>/confirm/", views.import_confirm, name="import_confirm"),
    path("api-tokens/", views.token_list, name="token_list"),
    path("api-tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]
