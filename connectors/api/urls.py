from rest_framework.routers import SimpleRouter

from .deliveries import DeliveryViewSet
from .syncs import SyncViewSet
from .views import ConnectorViewSet

app_name = "connectors-api"

router = SimpleRouter(use_regex_path=False)
router.register("connectors", ConnectorViewSet, basename="connector")
router.register("deliveries", DeliveryViewSet, basename="delivery")
router.register("syncs", SyncViewSet, basename="sync")

urlpatterns = router.urls
