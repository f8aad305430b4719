from datetime import timedelta

import pytest
from django.utils import timezone

from assets.choices import AssetKind
from assets.filtersets import AssetFilterSet, ip_prefix, mac_prefix
from assets.models import Asset
from tests.assets.factories import add_source, make_asset


def names(params: dict) -> set[str]:
    filterset = AssetFilterSet(params, queryset=Asset.objects.all())
    assert filterset.is_valid(), filterset.errors
    return {asset.hostname for asset in filterset.qs}


@pytest.fixture
def inventory(make_connector):
    cmdb, mdm = make_connector("CMDB"), make_connector("MDM")
    make_asset(
        cmdb,
        "web",
        hostname="web-01",
        fqdn="web-01.corp.example.com",
        serial_number="CZ1234ABC",
        ip_addresses=["10.0.0.5", "192.168.1.20"],
        mac_addresses=["00:1a:2b:3c:4d:5e"],
        os="Ubuntu 24.04",
        kind=AssetKind.MANAGED,
    )
    db = make_asset(mdm, "db", hostname="db-01", ip_addresses=["10.0.1.7"], os="Windows Server 2022")
    Asset.objects.filter(pk=db.pk).update(possible_duplicate=True)
    make_asset(mdm, "old", hostname="old-01", os="Windows 7", deleted=True, seen=timezone.now() - timedelta(days=60))
    merged = make_asset(cmdb, "gone", hostname="merged-01")
    Asset.objects.filter(pk=merged.pk).update(merged_into=db)
    return cmdb, mdm


def test_default_hides_retired_and_merged(inventory):
    assert names({}) == {"web-01", "db-01"}


def test_include_retired_shows_retired_but_never_merged(inventory):
    assert names({"include_retired": "true"}) == {"web-01", "db-01", "old-01"}


def test_connector_matches_live_sources_only_unless_retired_are_included(inventory):
    cmdb, mdm = inventory
    assert names({"connector": str(cmdb.uuid)}) == {"web-01"}
    assert names({"connector": str(mdm.uuid)}) == {"db-01"}
    assert names({"connector": str(mdm.uuid), "include_retired": "true"}) == {"db-01", "old-01"}


@pytest.mark.parametrize("limit", [0, 5_000], ids=["many matches: a subquery", "few matches: a list of ids"])
def test_connector_and_search_filters_select_the_same_assets_by_ids_or_subquery(inventory, monkeypatch, limit):
    from assets import filtersets

    monkeypatch.setattr(filtersets, "FILTER_ID_LIST_LIMIT", limit)
    _, mdm = inventory
    assert names({"connector": str(mdm.uuid), "include_retired": "true"}) == {"db-01", "old-01"}
    assert names({"connector": str(mdm.uuid), "q": "10.0"}) == {"db-01"}
    assert names({"q": "10.0"}) == {"web-01", "db-01"}


def test_connector_shared_by_two_sources_lists_the_asset_once(inventory):
    _, mdm = inventory
    web = Asset.objects.get(hostname="web-01")
    add_source(web, mdm, "web-in-mdm", hostname="web-01")
    filterset = AssetFilterSet({"connector": str(mdm.uuid)}, queryset=Asset.objects.all())
    assert sorted(asset.hostname for asset in filterset.qs) == ["db-01", "web-01"]


def test_unknown_connector_is_invalid(inventory):
    filterset = AssetFilterSet({"connector": "not-a-uuid"}, queryset=Asset.objects.all())
    assert not filterset.is_valid() and "connector" in filterset.errors


def test_kind_and_os(inventory):
    assert names({"kind": "managed"}) == {"web-01"}
    assert names({"kind": "unmanaged"}) == {"db-01"}
    assert names({"os": "windows"}) == {"db-01"}
    assert names({"os": "windows", "include_retired": "true"}) == {"db-01", "old-01"}


def test_stale_and_possible_duplicate(inventory):
    assert names({"not_seen_for": "30", "include_retired": "true"}) == {"old-01"}
    assert names({"not_seen_for": "30"}) == set()
    assert names({"possible_duplicate": "true"}) == {"db-01"}
    assert names({"possible_duplicate": "false"}) == {"web-01"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("WEB", {"web-01"}),  # hostname, any case
        ("web-01.corp", {"web-01"}),  # fqdn
        ("corp.example", set()),  # a prefix search: the middle of a name does not match (it keeps search indexed)
        ("cz1234", {"web-01"}),  # serial, any case
        ("10.0.", {"web-01", "db-01"}),  # IP prefix
        ("10.0.1.7", {"db-01"}),  # whole IP
        ("192.168", {"web-01"}),
        ("00-1A-2B", {"web-01"}),  # MAC prefix, other spelling
        ("00:1a:2b:3c:4d:5e", {"web-01"}),
        ("001A.2B3C.4D5E", {"web-01"}),  # Cisco spelling
        ("001A2B3C4D5E", {"web-01"}),
        ("0:1a", {"web-01"}),  # macOS spelling, groups without leading zero
        ("1a:2b", set()),  # a MAC matches from its start only
        ("nothing-like-this", set()),
    ],
)
def test_search(inventory, query, expected):
    assert names({"q": query}) == expected


def test_search_uses_the_identifier_table_not_the_json_column(inventory):
    # An IP only in the asset's JSON (no identifier: e.g. a junk value) is not found by an IP search.
    Asset.objects.filter(hostname="db-01").update(ip_addresses=["172.16.0.9"])
    assert names({"q": "172.16"}) == set()


def test_ordering_puts_empty_dates_last_and_breaks_ties_by_newest(inventory):
    Asset.objects.filter(hostname="db-01").update(last_seen=None)
    ordered = [a.hostname for a in AssetFilterSet({"ordering": "last_seen"}, queryset=Asset.objects.all()).qs]
    assert ordered == ["web-01", "db-01"]
    ordered = [a.hostname for a in AssetFilterSet({"ordering": "-last_seen"}, queryset=Asset.objects.all()).qs]
    assert ordered == ["web-01", "db-01"]
    ordered = [a.hostname for a in AssetFilterSet({"ordering": "-hostname"}, queryset=Asset.objects.all()).qs]
    assert ordered == ["web-01", "db-01"]
    ordered = [a.hostname for a in AssetFilterSet({"ordering": "os"}, queryset=Asset.objects.all()).qs]
    assert ordered == ["web-01", "db-01"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("00-1A-2B", "00:1a:2b"),
        ("00:1a:2b:", "00:1a:2b:"),
        ("0:1a:2", "00:1a:2"),
        ("001a.2b3c", "00:1a:2b:3c"),
        ("001A2B3C4D5E", "00:1a:2b:3c:4d:5e"),
        ("00", ""),
        ("web-01", ""),
        ("00:11:22:33:44:55:66", ""),
    ],
)
def test_mac_prefix(typed, expected):
    assert mac_prefix(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("10.0.", "10.0."),
        ("10.0.0.5", "10.0.0.5"),
        ("::ffff:10.0.0.5", "10.0.0.5"),
        ("fe80::", "fe80::"),
        ("10", ""),
        ("web", ""),
    ],
)
def test_ip_prefix(typed, expected):
    assert ip_prefix(typed) == expected


def test_broad_search_filters_by_subquery_and_finds_the_same_assets(cmdb, monkeypatch):
    from assets import filtersets

    for index in range(6):
        make_asset(cmdb, f"k{index}", hostname=f"web-{index:02d}")
    narrow = names({"q": "web-0"})
    monkeypatch.setattr(filtersets, "FILTER_ID_LIST_LIMIT", 3)
    broad = AssetFilterSet({"q": "web-0"}, queryset=Asset.objects.all()).qs
    assert "SELECT" in str(broad.query).split("WHERE", 1)[1]  # more matches than the limit: a subquery
    assert names({"q": "web-0"}) == narrow == {f"web-{index:02d}" for index in range(6)}
