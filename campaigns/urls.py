from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("new/", views.campaign_edit, name="campaign_create"),
    path("audience/", views.audience_count, name="audience_count"),
    path("preview/", views.preview, name="preview"),
    path("<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
    path("<int:pk>/schedule/", views.campaign_schedule, name="campaign_schedule"),
    path("<int:pk>/cancel/", views.campaign_cancel, name="campaign_cancel"),
    path("offers/", views.offer_list, name="offer_list"),
    path("offers/new/", views.offer_edit, name="offer_create"),
    path("offers/<int:pk>/", views.offer_detail, name="offer_detail"),
    path("offers/<int:pk>/edit/", views.offer_edit, name="offer_edit"),
    path("offers/<int:pk>/issue/", views.offer_issue, name="offer_issue"),
    path("coupons/<int:pk>/void/", views.coupon_void, name="coupon_void"),
    path("outbox/", views.outbox, name="outbox"),
    path("settings/", views.settings_view, name="settings"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path(
        "hooks/<slug:tenant_slug>/sms-reply/<slug:provider>/",
        views.sms_reply_webhook,
        name="sms_reply_webhook",
    ),
]
