"""The product's URLs plus ``/bench-trivial/``: the smallest Django view, as the intake latency baseline.

It receives the same signed POST as the intake (same body, same middleware, same server) and answers at once,
so the difference between the two is the intake's own work (authentication, storing, enqueuing).
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from connectors_site.urls import urlpatterns as product_urlpatterns


@csrf_exempt
@login_not_required
def trivial(request):
    request.body  # noqa: B018 - read the body like the intake does
    return HttpResponse(b'{"ok": true}', content_type="application/json", status=202)


urlpatterns = [path("bench-trivial/", trivial, name="bench_trivial"), *product_urlpatterns]
