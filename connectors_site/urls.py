from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from connectors import gateway, intake, metrics_view
from connectors_site.common.api_docs import docs_view
from connectors_site.common.health import healthz

# Under /api/ and /webhooks/, unmatched URLs (a malformed id) and server errors answer problem+json too.
handler404 = "connectors_site.common.api.not_found"
handler500 = "connectors_site.common.api.server_error"

urlpatterns = [
    # The intake first: the resolver tries patterns in order, and these take nearly every request. Both spellings
    # answer directly; a redirect would make senders drop the body.
    path("webhooks/<uuid:connector_uuid>", intake.WebhookView.as_view(), name="webhook"),
    path("webhooks/<uuid:connector_uuid>/", intake.WebhookView.as_view(schema=None)),  # documented once
    path("rest/2.0/am/connector/asset/data/sync", intake.CsamSyncView.as_view(), name="csam_sync"),
    path("rest/2.0/am/connector/asset/data/sync/", intake.CsamSyncView.as_view(schema=None)),
    path("", RedirectView.as_view(pattern_name="overview"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("assets.overview.urls")),
    path("", include("connectors.urls")),
    path("csam/", include("assets.urls")),
    # Qualys API gateway style token for scripts written for CSAM (POST <gateway>/auth).
    path("auth", gateway.GatewayAuthView.as_view(), name="gateway_auth"),
    path("auth/", gateway.GatewayAuthView.as_view(schema=None)),
    path("api/v1/", include("connectors.api.urls")),
    path("api/v1/", include("assets.api.urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", docs_view(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="swagger-ui"),
]
