"""Every main page is usable on a phone: at 390 px wide nothing scrolls sideways (wide tables scroll in their own
box), and the main navigation collapses behind a Menu button that works with the keyboard."""

import json

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from connectors.choices import PayloadFormat
from connectors.inbox import store_delivery
from connectors.models import Delivery
from connectors.worker import process_delivery
from connectors_site.common.roles import CONNECTOR_ADMINS
from tests.assets.factories import add_source, make_asset

PHONE = {"width": 390, "height": 844}


def _deliver(connector, payload, key):
    delivery = store_delivery(connector, json.dumps(payload).encode(), idempotency_key=key).delivery
    process_delivery(delivery.pk)
    return Delivery.objects.get(pk=delivery.pk)


def _record(i, **extra):
    return {
        "source_key": f"cmdb-{i:04d}-with-a-rather-long-source-key",
        "hostname": f"web-{i:02d}",
        "fqdn": f"web-{i:02d}.datacenter-frankfurt-02.corp.example.com",
        "ip_addresses": [f"10.20.0.{i}", f"fd00:1234:5678:9abc::{i}"],
        "mac_addresses": [f"00:1a:2b:3c:4d:{i:02x}"],
        "serial_number": f"SN-7Q2X9-LONGSERIAL-{i:04d}",
        "os": "Ubuntu",
        "os_version": "24.04.1 LTS (Noble Numbat)",
        **extra,
    }


@pytest.fixture
def estate(make_connector, django_user_model, defaults):
    """Two connectors with processed deliveries, duplicates and a conflict: every page has rows to show."""
    cmdb = make_connector("CMDB production inventory", trust_rank=80, description="The CMDB of the Frankfurt site " * 4)
    mdm = make_connector("MDM", trust_rank=40, payload_format=PayloadFormat.MAPPED)
    first = _deliver(cmdb, {"assets": [_record(i) for i in range(1, 6)] + [{"hostname": "no key"}]}, "batch-1")
    _deliver(cmdb, {"assets": [_record(1, os="Debian")]}, "batch-2")
    twin_a = make_asset(mdm, "mdm-twin-a", hostname="twin-01", ip_addresses=["10.9.0.1"])
    make_asset(mdm, "mdm-twin-b", hostname="twin-01", ip_addresses=["10.9.0.1"])
    twin_a.__class__.objects.filter(hostname="twin-01").update(possible_duplicate=True)
    conflicted = make_asset(cmdb, "cmdb-odd", hostname="odd-01", serial_number="SN-OLD-7Q2X9")
    add_source(conflicted, mdm, "mdm-odd", hostname="odd-01", serial_number="SN-NEW-88KD1")
    staff = django_user_model.objects.create_user("stella", password="pw-stella-123", is_staff=True, is_superuser=True)
    staff.groups.add(Group.objects.get(name=CONNECTOR_ADMINS))
    return {"cmdb": cmdb, "mdm": mdm, "delivery": first, "asset": first.decisions.exclude(asset=None).first().asset}


# The elements that stick out of the viewport and are not inside a box that scrolls or clips them: the culprits.
WIDE_ELEMENTS = """() => {
  const culprits = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= window.innerWidth + 0.5 || !el.checkVisibility()) continue;
    let parent = el.parentElement, contained = false;
    for (; parent; parent = parent.parentElement) {
      const overflow = getComputedStyle(parent).overflowX;
      if (["auto", "scroll", "hidden", "clip"].includes(overflow)) { contained = true; break; }
    }
    if (!contained) culprits.push(`${el.tagName.toLowerCase()}.${el.className} → ${Math.round(box.right)}px`);
  }
  return [document.documentElement.scrollWidth, ...culprits.slice(0, 5)];
}"""


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.django_db(transaction=True)
def test_no_main_page_scrolls_sideways_at_390px(browser, live_server, estate, tmp_path):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    assert _overflow(page) <= 0
    page.get_by_label("Username").fill("stella")
    page.get_by_label("Password").fill("pw-stella-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/overview/")

    cmdb, mdm, delivery, asset = estate["cmdb"], estate["mdm"], estate["delivery"], estate["asset"]
    pages = {
        "overview": "/overview/",
        "overview-deliveries": "/overview/deliveries/",
        "integrations": "/integrations/",
        "connectors": "/connectors/",
        "syncs": f"/connectors/{cmdb.uuid}/syncs/",
        "refused": f"/connectors/{cmdb.uuid}/refused/",
        "rule-impact": f"/connectors/{cmdb.uuid}/rules/impact/",
        "connector": f"/connectors/{cmdb.uuid}/",
        "rules": f"/connectors/{cmdb.uuid}/rules/",
        "mapping": f"/connectors/{mdm.uuid}/mapping/",
        "deliveries": f"/connectors/{cmdb.uuid}/deliveries/",
        "delivery": f"/deliveries/{delivery.uuid}/",
        "assets": "/csam/assets/",
        "asset": f"/csam/assets/{asset.uuid}/",
        "duplicates": "/csam/duplicates/",
        "conflicts": "/csam/conflicts/",
        "identification-rules": "/csam/rules/",
        "rule-new": "/csam/rules/new/",
        "connector-new": "/connectors/new/",
        "api-docs": "/api/docs/",
        "admin": "/admin/",
        "admin-changelist": "/admin/connectors/connector/",
        "not-found": "/csam/assets/00000000-0000-0000-0000-000000000000/",
    }
    wide = {}
    for name, path in pages.items():
        response = page.goto(path)
        assert response.status == (404 if name == "not-found" else 200), name
        page.wait_for_load_state("networkidle")
        if _overflow(page) > 0:
            wide[name] = page.evaluate(WIDE_ELEMENTS)
        if name in ("connector", "delivery", "asset", "duplicates"):
            page.screenshot(path=tmp_path / f"{name}-390.png", full_page=True)
        if name == "delivery":
            page.locator("#decisions").screenshot(path=tmp_path / "decisions-390.png")
    assert wide == {}, f"pages wider than 390 px: {wide} (screenshots in {tmp_path})"
    context.close()


@pytest.mark.django_db(transaction=True)
def test_the_main_menu_collapses_and_opens_with_the_keyboard(browser, live_server, estate, tmp_path):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("stella")
    page.get_by_label("Password").fill("pw-stella-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/overview/")

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Admin")).to_be_hidden()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    menu = page.locator("summary", has_text="Menu")
    menu.focus()
    page.keyboard.press("Enter")
    for name in ("Integrations", "Connectors", "CSAM", "API", "Admin"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_in_viewport()
    expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport()
    assert _overflow(page) <= 0
    page.screenshot(path=tmp_path / "menu-open-390.png")
    page.keyboard.press("Escape")  # closes it again, focus back on the button
    expect(nav.get_by_role("link", name="Admin")).to_be_hidden()
    expect(menu).to_be_focused()
    page.keyboard.press("Enter")
    nav.get_by_role("link", name="CSAM").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Assets")
    expect(nav.get_by_role("link", name="Admin")).to_be_hidden()  # a new page starts with the menu closed

    # On a wide screen the menu button is gone and every link shows.
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(menu).to_be_hidden()
    expect(nav.get_by_role("link", name="Admin")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    context.close()
