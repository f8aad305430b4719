"""Counting stops at a cap, so list pages stay fast over a million rows; past it, pages still go on."""

import pytest

from assets.models import Asset
from connectors_site.common import pagination

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_assets(monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    Asset.objects.bulk_create(Asset(hostname=f"host-{i:02d}") for i in range(12))


def test_list_page_says_more_than_the_cap_and_pages_on(admin_ui, many_assets):
    page = admin_ui.get("/csam/assets/", {"per_page": 10}).content.decode()
    assert "More than 10 assets" in page and "Page 1<" in page.replace(" </span>", "<")
    second = admin_ui.get("/csam/assets/", {"per_page": 10, "page": 2}).content.decode()
    assert "host-01" in second and "host-00" in second  # the last two (newest first)


def test_exact_count_below_the_cap(admin_ui, many_assets, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 100)
    page = admin_ui.get("/csam/assets/", {"per_page": 10}).content.decode()
    assert "12 assets" in page and "of 2" in page


def test_api_count_is_marked_inexact_past_the_cap(admin_client, many_assets):
    data = admin_client.get("/api/v1/assets/", {"limit": 10}).json()
    assert data["count_exact"] is False and data["count"] == 11 and data["next"]
    last = admin_client.get("/api/v1/assets/", {"limit": 10, "offset": 10}).json()
    assert last["count_exact"] is True and last["count"] == 12 and last["next"] is None
