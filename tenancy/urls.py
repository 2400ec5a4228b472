from django.urls import path

from tenancy import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.sign_in, name="login"),
    path("accounts/logout/", views.sign_out, name="logout"),
    path("audit/", views.audit_list, name="audit_list"),
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/new/", views.staff_create, name="staff_create"),
    path("staff/<int:pk>/", views.staff_edit, name="staff_edit"),
    path("staff/<int:pk>/password/", views.staff_password, name="staff_password"),
    path("settings/", views.tenant_settings, name="tenant_settings"),
    path("settings/calendar/", views.working_calendar, name="working_calendar"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/read/", views.inbox_read, name="inbox_read"),
    path("inbox/settings/", views.inbox_settings, name="inbox_settings"),
    path("help/", views.help_manual, name="help"),
    path("onboarding/", views.onboarding_checklist, name="onboarding"),
    path("onboarding/team/", views.onboarding_team, name="onboarding_team"),
    path("healthz", views.healthz, name="healthz"),
]
