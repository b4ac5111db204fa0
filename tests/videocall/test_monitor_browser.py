"""Live monitor (VC-24) in headless Chromium: the page is open, a call starts (its row is written and
the service's committed ``videocall.call`` event is published), the relay turns it into a
``videocall.monitor`` hub event for the organization's monitors, and the page redraws its board with
the new call — without reloading. A user of another organization receives nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from ketnoi.db.base import utcnow
from ketnoi.events import Event, bus
from ketnoi.videocall.models import VcCall
from ketnoi.videocall.monitor import relay_for
from tests.browser.test_console import sign_in, wait_for_hub
from tests.videocall.report_data import build

# Playwright's sync API keeps an event loop running: browser tests run in their own pytest process.
pytestmark = pytest.mark.browser


def test_monitor_page_redraws_on_hub_events(new_page, world, database):
    hist = build(world, database)
    world.user("giamsat", roles=["videocall.monitor"])
    world.user("giamsatb", org="b", dept="B1", roles=["videocall.monitor"])
    relay = relay_for(database, bus)
    bus.subscribe(relay)  # what the monitor service does when the app runs its services
    try:
        page = new_page()
        sign_in(page, "giamsat")
        page.goto("/videocall/monitor")
        wait_for_hub(page)
        expect(page.locator("#vc-mon-calls tbody tr")).to_have_count(1)  # c5, still connected
        other = new_page()
        sign_in(other, "giamsatb")
        other.goto("/videocall/monitor")
        wait_for_hub(other)
        with database.session() as s:
            call = VcCall(organization_id=hist.org, code="VC-LIVE-1", hotline_id=hist.hotlines["1022"],
                          group_id=hist.groups["G1"], status="ringing", caller_key="k:live", caller_ref="KH-live",
                          caller_name="Khách trực tiếp", caller_unit="HN", created_at=utcnow() - timedelta(seconds=3),
                          routing_path=[])
            s.add(call)
            s.commit()
            call_id = call.id
        bus.publish(Event(type="videocall.call", data={"call_id": call_id, "what": "state"}, user_ids=[]))
        expect(page.locator(f'#vc-mon-calls tr[data-call="{call_id}"]')).to_contain_text("Khách trực tiếp")
        expect(page.locator("#vc-mon-ncalls")).to_have_text("2")
        assert page.evaluate("window.__vcMonitor.events") >= 1
        assert other.evaluate("window.__vcMonitor.events") == 0
        expect(other.locator("#vc-mon-ncalls")).to_have_text("0")
    finally:
        bus.unsubscribe(relay)
