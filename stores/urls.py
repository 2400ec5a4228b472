from django.urls import path

from stores import views

app_name = "stores"

urlpatterns = [
    path("", views.store_list, name="store_list"),
    path("<int:pk>/", views.store_detail, name="store_detail"),
    path("<int:pk>/status/", views.store_status, name="store_status"),
    path("<int:pk>/code-change/", views.code_change_create, name="code_change_create"),
    path("export/", views.store_export, name="store_export"),
    path("import/", views.store_import, name="store_import"),
    path("applications/", views.application_list, name="application_list"),
    path("applications/new/", views.application_create, name="application_create"),
    path("applications/<int:pk>/", views.application_detail, name="application_detail"),
    path("applications/<int:pk>/edit/", views.application_edit, name="application_edit"),
    path("applications/<int:pk>/submit/", views.application_submit, name="application_submit"),
    path("applications/<int:pk>/approve/", views.application_approve, name="application_approve"),
    path("applications/<int:pk>/reject/", views.application_reject, name="application_reject"),
    path("applications/<int:pk>/documents/", views.document_upload, name="document_upload"),
    path("documents/<int:pk>/", views.document_download, name="document_download"),
    path("reviews/", views.review_queue, name="review_queue"),
    path("reviews/<int:pk>/", views.review_record, name="review_record"),
    path("setup/", views.setup, name="setup"),
    path("setup/region/new/", views.setup_create, {"kind": "region"}, name="region_create"),
    path(
        "setup/store-type/new/",
        views.setup_create,
        {"kind": "store_type"},
        name="store_type_create",
    ),
    path("setup/<str:kind>/<int:pk>/", views.setup_edit, name="setup_edit"),
    path("setup/<str:kind>/<int:pk>/delete/", views.setup_delete, name="setup_delete"),
]
