from rest_framework.views import APIView


class WebhookView(APIView):
    pass


class CsamSyncView(APIView):
    pass
