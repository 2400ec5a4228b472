from django.urls import path

from loyalty import views

app_name = "loyalty"

urlpatterns = [
    path("counter/", views.counter, name="counter"),
    path("members/<int:pk>/", views.member_points, name="member_points"),
    path("members/<int:pk>/redeem/", views.redeem, name="redeem"),
    path("members/<int:pk>/adjust/", views.adjust, name="adjust"),
    path("members/<int:pk>/tier-buy/", views.tier_buy, name="tier_buy"),
    path("settings/", views.settings_view, name="settings"),
    path("tiers/new/", views.tier_edit, name="tier_create"),
    path("tiers/<int:pk>/edit/", views.tier_edit, name="tier_edit"),
    path("liability/", views.liability, name="liability"),
    path("statements/", views.statements, name="statements"),
    path("statements/generate/", views.statements_generate, name="statements_generate"),
    path("statements/<int:pk>/", views.statement_detail, name="statement"),
    path("statements/<int:pk>/decide/", views.statement_decide, name="statement_decide"),
    path(
        "statements/<int:pk>/regenerate/", views.statement_regenerate, name="statement_regenerate"
    ),
    path("caps/", views.caps, name="caps"),
    path("caps/<int:pk>/", views.cap_edit, name="cap_edit"),
]
