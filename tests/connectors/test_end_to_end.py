"""The real thing: HTTP deliveries to a live server, processed by a real `run_worker` process."""

import json
import urllib.error
import urllib.request

import pytest

from assets.models import Asset
from connectors.models import Delivery, WorkerHeartbeat
from tests.conftest import wait_for

from .helpers import asset, signed_headers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def http_post(url: str, body: bytes, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_deliveries_over_http_are_processed_by_the_worker(live_server, connector, start_worker):
    worker = start_worker()
    url = f"{live_server.url}/webhooks/{connector.uuid}"
    body = json.dumps({"assets": [asset(i) for i in range(50)]}).encode()
    headers = {
        key.removeprefix("HTTP_").replace("_", "-").lower(): value
        for key, value in signed_headers(connector.credentials.signing_secret, body).items()
    }
    status, reply = http_post(url, body, {"Content-Type": "application/json", **headers})
    assert status == 202, reply
    bearer = {"Content-Type": "application/json", "Authorization": f"Bearer {connector.credentials.token}"}
    status, _ = http_post(url, json.dumps(asset(1000)).encode(), bearer)
    assert status == 202

    def done():
        return Delivery.objects.filter(status="processed").count() == 2

    wait_for(done, timeout=90, message=f"both deliveries processed (worker log: {worker.log_path})")
    assert Asset.objects.count() == 51
    assert WorkerHeartbeat.objects.exists()
    status, _ = http_post(url, json.dumps(asset(1000)).encode(), bearer)  # same content, no key: new delivery
    assert status == 202
