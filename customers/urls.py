from django.urls import path

from customers import privacy_views, views

app_name = "customers"

urlpatterns = [
    path("", views.lookup, name="lookup"),
    path("enrol/", views.enrol, name="enrol"),
    path("list/", views.member_list, name="list"),
    path("bulk-tag/", views.bulk_tag, name="bulk_tag"),
    path("export/", views.export, name="export"),
    path("tags/", views.tags, name="tags"),
    path("duplicates/", views.duplicates, name="duplicates"),
    path("merge/", views.merge, name="merge"),
    path("segments/", views.segments, name="segments"),
    path("segments/new/", views.segment_edit, name="segment_new"),
    path("segments/count/", views.segment_count, name="segment_count"),
    path("segments/<int:pk>/", views.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/delete/", views.segment_delete, name="segment_delete"),
    path("import/", views.import_upload, name="import"),
    path("import/template/", views.import_template, name="import_template"),
    path("import/<int:pk>/", views.import_job, name="import_job"),
    path("import/<int:pk>/confirm/", views.import_confirm, name="import_confirm"),
    path("import/<int:pk>/cancel/", views.import_discard, name="import_discard"),
    path("import/<int:pk>/errors/", views.import_errors, name="import_errors"),
    path("privacy/settings/", privacy_views.privacy_settings, name="privacy_settings"),
    path("privacy/retention/", privacy_views.retention, name="retention"),
    path("privacy/requests/", privacy_views.request_list, name="request_list"),
    path("privacy/requests/new/", privacy_views.request_create, name="request_create"),
    path("privacy/requests/<int:pk>/", privacy_views.request_detail, name="request_detail"),
    path("privacy/requests/<int:pk>/export/", privacy_views.request_export, name="request_export"),
    path("privacy/requests/<int:pk>/erase/", privacy_views.request_erase, name="request_erase"),
    path("<int:pk>/", views.profile, name="profile"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/reveal/", views.reveal, name="reveal"),
    path("<int:pk>/consent/", views.consent, name="consent"),
    path("<int:pk>/tags/add/", views.tag_add, name="tag_add"),
    path("<int:pk>/tags/<int:tag_pk>/remove/", views.tag_remove, name="tag_remove"),
    path("<int:pk>/erase/", views.erase, name="erase"),
    path("<int:pk>/personal-data/", views.personal_data, name="personal_data"),
]
