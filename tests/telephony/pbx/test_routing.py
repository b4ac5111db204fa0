"""Route matching on an applied snapshot (CC-10, CC-11): the pure functions the engine calls for
every call, and the snapshot's own look-ups (peer trunk by address, extension by number)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ketnoi.telephony.pbx import config as C
from ketnoi.telephony.pbx.config import Destination
from ketnoi.telephony.pbx.routing import (
    compiled,
    inbound_key,
    inbound_route_for,
    match_inbound,
    match_outbound,
)
from tests.telephony.pbx.builders import config, ext, inbound, outbound, trunk

HOTLINE = Destination("play", "welcome", Destination("extension", "1001"))


def test_exact_did_beats_patterns_and_catch_all():
    cfg = config(inbound_routes=[
        inbound("any", "", dest=Destination("extension", "1006")),
        inbound("tens", "_10XX", dest=Destination("extension", "1002")),
        inbound("hot", "1022", dest=HOTLINE),
        inbound("open", "_10.", dest=Destination("extension", "1003")),
    ])
    assert match_inbound(cfg, "1022", "0912345678") == HOTLINE
    assert match_inbound(cfg, "1023", "0912345678") == Destination("extension", "1002")
    assert match_inbound(cfg, "10234", "0912345678") == Destination("extension", "1003")
    assert match_inbound(cfg, "2000", "0912345678") == Destination("extension", "1006")
    assert HOTLINE.steps() == [HOTLINE, Destination("extension", "1001")]


def test_caller_pattern_narrows_a_did():
    vip = Destination("extension", "1005")
    cfg = config(inbound_routes=[inbound("hot", "1022", dest=HOTLINE),
                                 inbound("vip", "1022", "_09[01]XXXXXXX", dest=vip),
                                 inbound("boss", "1022", "0901111111", dest=Destination("hangup"))])
    assert match_inbound(cfg, "1022", "0912345678") == vip
    assert match_inbound(cfg, "1022", "0901111111") == Destination("hangup")
    assert match_inbound(cfg, "1022", "0351234567") == HOTLINE
    # the DID decides first: a caller pattern on a catch-all route never beats an exact DID
    cfg2 = config(inbound_routes=[inbound("hot", "1022", dest=HOTLINE),
                                  inbound("spam", "", "0351234567", dest=Destination("hangup"))])
    assert match_inbound(cfg2, "1022", "0351234567") == HOTLINE
    assert match_inbound(cfg2, "1900", "0351234567") == Destination("hangup")


def test_no_route_and_disabled_routes():
    cfg = config(inbound_routes=[inbound("hot", "1022", dest=HOTLINE, enabled=False)])
    assert match_inbound(cfg, "1022", "0912345678") is None
    assert match_inbound(config(), "1022", "") is None
    assert inbound_route_for(config(inbound_routes=[inbound("hot", "1022")]), "1022", "").id == "hot"


def test_outbound_prefix_strip_prepend_and_failover_order():
    cfg = config(trunks=[trunk("vnpt"), trunk("viettel"), trunk("off", enabled=False)], outbound_routes=[
        outbound("mobile", [("9", "_0[35789]XXXXXXXX", ""), ("", "_0[35789]XXXXXXXX", "")],
                 ["viettel", "off", "vnpt"], position=1),
        outbound("intl", [("00", "_X.", "+")], ["vnpt"], position=2),
        outbound("any", [("", "_X.", "")], ["vnpt"], position=3),
    ])
    m = match_outbound(cfg, "90912345678")
    route, number, trunks = m
    assert route.id == "mobile" and number == "0912345678"
    assert [t.id for t in trunks] == ["viettel", "vnpt"]  # the disabled one is skipped, order kept
    assert match_outbound(cfg, "0912345678").number == "0912345678"
    assert match_outbound(cfg, "0084123456789") == (cfg.outbound_routes[1], "+84123456789", (cfg.trunks[0],))
    assert match_outbound(cfg, "12345").route.id == "any"
    assert match_outbound(cfg, "9") is None  # "_X." needs two characters; the prefix alone is nothing
    assert match_outbound(cfg, "") is None


def test_outbound_route_order_is_position_not_storage():
    cfg = config(trunks=[trunk("a"), trunk("b")], outbound_routes=[
        outbound("late", [("", "_X.", "")], ["b"], position=2),
        outbound("early", [("", "_0XXXXXXXXX", "")], ["a"], position=1)])
    assert match_outbound(cfg, "0912345678").route.id == "early"
    assert match_outbound(cfg, "1234").route.id == "late"


def test_outbound_skips_disabled_routes_and_routes_without_a_usable_trunk():
    cfg = config(trunks=[trunk("a", enabled=False), trunk("b")], outbound_routes=[
        outbound("dead", [("", "_X.", "")], ["a", "missing"], position=1),
        outbound("off", [("", "_X.", "")], ["b"], position=2, enabled=False),
        outbound("ok", [("", "_X.", "")], ["b"], position=3)])
    assert match_outbound(cfg, "0912345678").route.id == "ok"


def test_prefix_alone_is_not_a_number():
    cfg = config(trunks=[trunk("a")], outbound_routes=[outbound("r", [("9", "", "")], ["a"])])
    assert match_outbound(cfg, "9") is None
    assert match_outbound(cfg, "9123").number == "123"


def test_snapshot_lookups():
    cfg = config(extensions=[ext("1001")], trunks=[
        trunk("carrier", kind="peer", networks=["203.0.113.0/28"]), trunk("lo", kind="peer", networks=["127.0.0.1"]),
        trunk("reg")])
    assert cfg.extension("1001").display_name == "Máy 1001" and cfg.extension("1002") is None
    assert cfg.trunk_for_address("203.0.113.5").id == "carrier"
    assert cfg.trunk_for_address("127.0.0.1").id == "lo"
    assert cfg.trunk_for_address("198.51.100.1") is None and cfg.trunk_for_address("không-phải-ip") is None
    assert cfg.extensions[0].permits("10.0.0.1")


def test_snapshot_round_trip_keeps_everything_and_seals_passwords():
    cfg = config(extensions=[ext("1001")], trunks=[trunk("reg", password="mật-khẩu")],
                 inbound_routes=[inbound("hot", "1022", dest=HOTLINE)],
                 outbound_routes=[outbound("r", [("9", "_0X.", "")], ["reg"])])
    stored = C.to_dict(cfg, seal=lambda s: "SEALED:" + s[::-1])
    assert stored["trunks"][0]["password"] == "SEALED:" + "mật-khẩu"[::-1]
    back = C.from_dict(json.loads(json.dumps(stored)), unseal=lambda s: s.removeprefix("SEALED:")[::-1])
    assert back == cfg
    assert back.inbound_routes[0].destination == HOTLINE
    assert match_outbound(back, "90912").number == "0912"


# --- the indexed lookup agrees with the definition ------------------------------------------------
DIDS = ["", "1022", "1023", "_1022", "_102X", "_10XX", "_1X2X", "_10.", "_1!", "_X."]
CALLERS = ["", "0912345678", "_09XXXXXXXX", "_0[35]XXXXXXXX", "_0."]


def reference(cfg, did, caller):
    """The rule as written: among matching enabled routes, the smallest (DID, caller) specificity."""
    hits = [r for r in cfg.inbound_routes if r.enabled and compiled(r.did).matches(did)
            and compiled(r.caller).matches(caller)]
    return min(hits, key=lambda r: (inbound_key(r), r.name, r.id), default=None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(DIDS), st.sampled_from(CALLERS), st.booleans()), max_size=8),
       st.sampled_from(["1022", "1023", "1099", "10", "1", "2000", "102"]),
       st.sampled_from(["0912345678", "0351234567", "0241234567", "1001", ""]))
def test_indexed_inbound_lookup_matches_the_definition(routes, did, caller):
    cfg = config(inbound_routes=[inbound(f"r{n}", d, c, Destination("extension", str(1000 + n)), enabled=on)
                                 for n, (d, c, on) in enumerate(routes)])
    assert inbound_route_for(cfg, did, caller) == reference(cfg, did, caller)
