from django.urls import path

from interactions import views

app_name = "interactions"

urlpatterns = [
    path("counter/", views.quick, name="quick"),
    path("counter/<int:member_pk>/", views.quick_member, name="quick_member"),
    path("members/<int:member_pk>/", views.member_timeline, name="member_timeline"),
    path("cases/", views.case_list, name="case_list"),
    path("cases/new/", views.case_create, name="case_create"),
    path("cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("cases/<int:pk>/status/", views.case_transition, name="case_transition"),
    path("cases/<int:pk>/assign/", views.case_assign, name="case_assign"),
    path("cases/<int:pk>/comment/", views.case_comment, name="case_comment"),
    path("cases/<int:pk>/attach/", views.case_attach, name="case_attach"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("categories/", views.category_list, name="category_list"),
    path("categories/<int:pk>/", views.category_edit, name="category_edit"),
]
