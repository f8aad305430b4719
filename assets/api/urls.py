from rest_framework.routers import SimpleRouter

from .views import AssetViewSet, IdentificationRuleViewSet

app_name = "assets-api"

router = SimpleRouter()
router.register("assets", AssetViewSet, basename="asset")
router.register("identification-rules", IdentificationRuleViewSet, basename="identification-rule")
urlpatterns = router.urls
