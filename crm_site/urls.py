from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from tenancy.access import public

urlpatterns = [
    path("", include("tenancy.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # The admin signs in through the same throttled page as everything else.
    path("admin/login/", public(RedirectView.as_view(pattern_name="login", query_string=True))),
    path("admin/", admin.site.urls),
    path("stores/", include("stores.urls")),
    path("members/", include("customers.urls")),
    path("interactions/", include("interactions.urls")),
    path("loyalty/", include("loyalty.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("catalog/", include("catalog.urls")),
    path("analytics/", include("analytics.urls")),
    path("api/v1/", include("analytics.api_urls")),
]

# Our own error pages (Django uses them when DEBUG is off; tenancy/errors.py).
handler403 = "tenancy.errors.permission_denied"
handler404 = "tenancy.errors.page_not_found"
handler500 = "tenancy.errors.server_error"

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
