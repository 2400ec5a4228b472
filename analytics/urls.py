from django.urls import path

from analytics import staff_views, views

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
    path("performance/", staff_views.performance_store, name="performance_store"),
    path("performance/me/", staff_views.performance_me, name="performance_me"),
    path("performance/targets/", staff_views.target_list, name="target_list"),
    path("incentives/", staff_views.statement_list, name="statement_list"),
    path("incentives/compute/", staff_views.statements_compute, name="statements_compute"),
    path("incentives/rules/", staff_views.rule_list, name="rule_list"),
    path(
        "incentives/<int:statement_id>/",
        staff_views.statement_detail,
        name="statement_detail",
    ),
    path(
        "incentives/<int:statement_id>/confirm/",
        staff_views.statement_confirm,
        name="statement_confirm",
    ),
    path(
        "incentives/<int:statement_id>/export/",
        staff_views.statement_export,
        name="statement_export",
    ),
]
