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
]
