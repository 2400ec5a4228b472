from django.urls import path

from interactions import views

app_name = "interactions"

urlpatterns = [
    path("counter/", views.quick, name="quick"),
    path("counter/<int:member_pk>/", views.quick_member, name="quick_member"),
    path("members/<int:member_pk>/", views.member_timeline, name="member_timeline"),
    path("members/<int:member_pk>/profile/", views.member_profile_edit, name="member_profile"),
    path("members/<int:member_pk>/referral/", views.member_referral, name="member_referral"),
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
    path("leads/", views.lead_today, name="lead_today"),
    path("leads/new/", views.lead_create, name="lead_create"),
    path("leads/conversion/", views.lead_conversion, name="lead_conversion"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_detail"),
    path("leads/<int:pk>/follow-up/", views.lead_follow_up, name="lead_follow_up"),
    path("leads/<int:pk>/won/", views.lead_win, name="lead_win"),
    path("leads/<int:pk>/lost/", views.lead_lose, name="lead_lose"),
    path("surveys/", views.survey_results, name="survey_results"),
    path("survey/<str:token>/", views.survey_answer, name="survey_answer"),
]
