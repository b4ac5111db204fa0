"""Video-call reports (VC-19…28) over a known history (tests/videocall/report_data.py): exact figures
for statistics by unit/group/agent/hotline/period, agent performance, online time, team members, the
event log with failure causes, call detail with search, the live board and its hub relay, the JSON
twins, the console pages with their SVG charts and the typed .xlsx exports."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from ketnoi.events import Event, EventBus
from ketnoi.videocall import reports as R
from ketnoi.videocall.monitor import relay_for
from tests.conftest import login
from tests.factory import SYSTEM
from tests.videocall.config_helpers import partner_client
from tests.videocall.report_data import BASE, build

API = "/api/v1/videocall/reports"


@pytest.fixture
def hist(world, database):
    return build(world, database)


def _by(rows, key="label"):
    return {r[key]: r for r in rows}


def test_statistics_by_group_unit_hotline_and_day(database, hist):
    with database.session() as s:
        g = _by(R.statistics(s, SYSTEM, R.VcFilters(), "group"))
        assert {k: (v["total"], v["answered"], v["missed"], v["failed"], v["active"]) for k, v in g.items()} == {
            "Nhóm Một": (4, 2, 1, 1, 0), "Nhóm Hai": (2, 0, 0, 1, 1)}
        assert g["Nhóm Một"]["answer_rate"] == 50.0 and g["Nhóm Hai"]["answer_rate"] == 0.0
        assert g["Nhóm Một"]["avg_wait_seconds"] == 15.0 and g["Nhóm Một"]["avg_talk_seconds"] == 90.0
        assert g["Nhóm Một"]["talk_seconds"] == 180.0
        assert g["Nhóm Hai"]["avg_wait_seconds"] == 7.5 and g["Nhóm Hai"]["avg_talk_seconds"] == 30.0
        u = _by(R.statistics(s, SYSTEM, R.VcFilters(), "unit"))
        assert {k: (v["total"], v["answered"], v["missed"], v["failed"]) for k, v in u.items()} == {
            "HN": (4, 2, 0, 1), "HCM": (2, 0, 1, 1)}
        h = _by(R.statistics(s, SYSTEM, R.VcFilters(), "hotline"))
        assert {k: v["total"] for k, v in h.items()} == {"1022": 4, "1900": 2}
        a = _by(R.statistics(s, SYSTEM, R.VcFilters(), "agent"))
        assert {k: v["total"] for k, v in a.items()} == {"ĐTV A": 1, "ĐTV B": 1, "ĐTV C": 2, "(không xác định)": 2}
        days = R.statistics(s, SYSTEM, R.VcFilters(), "day")
        assert [(d["label"], d["total"]) for d in days] == [("2026-11-10", 2), ("2026-11-11", 2), ("2026-11-12", 2)]
        hours = R.statistics(s, SYSTEM, R.VcFilters(), "hour")
        assert [(d["label"], d["total"]) for d in hours] == [("09:00", 3), ("10:00", 2), ("11:00", 1)]
        assert R.totals(days) == {"total": 6, "answered": 2, "missed": 1, "failed": 2, "active": 1, "answer_rate": 40.0}


def test_filters_unit_group_agent_hotline_period(database, hist):
    def total(**kw):
        with database.session() as s:
            return sum(r["total"] for r in R.statistics(s, SYSTEM, R.VcFilters(**kw).check(), "group"))

    assert total(unit="HN", group_id=hist.groups["G1"]) == 3
    assert total(agent_id=hist.agents["A"]) == 1
    assert total(hotline_id=hist.hotlines["1900"]) == 2
    assert total(since=BASE + timedelta(days=1)) == 4
    assert total(since=BASE, until=BASE + timedelta(hours=1)) == 1
    assert total(organization_id="khac") == 0  # a system administrator narrows to one organization
    assert total(organization_id=hist.org) == 6
    with pytest.raises(Exception) as e:
        R.VcFilters(since=BASE, until=BASE).check()
    assert "sau thời điểm bắt đầu" in str(e.value)


def test_agent_performance_presence_and_team(database, hist):
    with database.session() as s:
        perf = _by(R.agent_performance(s, SYSTEM, R.VcFilters()), "agent")
        pick = ("offered", "answered", "missed", "declined", "failed", "avg_handle_seconds")
        assert {k: tuple(v[x] for x in pick) for k, v in perf.items()} == {
            "ĐTV A": (3, 1, 2, 0, 0, 120.0), "ĐTV B": (3, 1, 1, 1, 0, 60.0), "ĐTV C": (2, 2, 0, 0, 1, 30.0)}
        assert perf["ĐTV A"]["answer_rate"] == 33.3
        only_g2 = R.agent_performance(s, SYSTEM, R.VcFilters(group_id=hist.groups["G2"]))
        assert [r["agent"] for r in only_g2] == ["ĐTV C"]

        f = R.VcFilters(since=BASE - timedelta(hours=2), until=BASE + timedelta(hours=4))
        pres = _by(R.presence(s, SYSTEM, f, now=BASE + timedelta(days=5)), "agent")
        a = pres["ĐTV A"]
        assert (a["online_seconds"], a["available_seconds"], a["paused_seconds"], a["busy_seconds"],
                a["offline_seconds"], a["logins"]) == (4 * 3600, 3 * 3600, 3600, 0, 2 * 3600, 1)
        assert a["first_online"] == BASE - timedelta(hours=1) and a["last_online"] == BASE + timedelta(hours=3)
        assert pres["ĐTV B"]["online_seconds"] == 0 and pres["ĐTV B"]["offline_seconds"] == 6 * 3600
        # starting inside the online stretch: the status before the period counts
        inside = _by(R.presence(s, SYSTEM, R.VcFilters(since=BASE, until=BASE + timedelta(hours=1)),
                                now=BASE + timedelta(days=5)), "agent")["ĐTV A"]
        assert inside["available_seconds"] == 3600 and inside["logins"] == 0 and inside["first_online"] == BASE

        teams = {t["code"]: t for t in R.team(s, SYSTEM, R.VcFilters())}
        assert [m["agent"] for m in teams["G1"]["members"]] == ["ĐTV A", "ĐTV B"]
        assert [(m["agent"], m["answered"]) for m in teams["G2"]["members"]] == [("ĐTV C", 2)]


def test_event_log_errors_search_and_causes(database, hist):
    with database.session() as s:
        rows, total = R.events(s, SYSTEM, R.VcFilters(), limit=None)
        assert total == 14 and len(rows) == 14
        errs, n = R.events(s, SYSTEM, R.VcFilters(), errors_only=True)
        assert n == 6 and all(r["error"] for r in errs)
        assert {r["type"] for r in errs} == {"ring_timeout", "declined", "reconnecting", "ended"}
        mine, n = R.events(s, SYSTEM, R.VcFilters(q=hist.codes["c3"]))
        assert n == 5 and {r["code"] for r in mine} == {hist.codes["c3"]}
        ended = [r for r in errs if r["type"] == "ended"]
        assert sorted(r["cause"] for r in ended) == sorted([
            "Không ai nhận cuộc gọi", "Mất kết nối quá thời gian cho phép", "Máy chủ video không sẵn sàng"])
        causes = R.failure_causes(s, SYSTEM, R.VcFilters(organization_id=hist.org))
        assert {c["reason"]: c["calls"] for c in causes["calls"]} == {"no_answer": 1, "network": 1,
                                                                    "media_unavailable": 1}
        assert {r["outcome"]: r["count"] for r in causes["refused"]} == {"replay": 1, "bad_signature": 1}


def test_call_detail_live_board_and_relay(database, hist):
    with database.session() as s:
        rows, total = R.call_detail(s, SYSTEM, R.VcFilters())
        assert total == 6 and rows[0]["code"] == hist.codes["c6"]  # newest first
        c1 = next(r for r in rows if r["code"] == hist.codes["c1"])
        assert (c1["outcome_label"], c1["wait_seconds"], c1["talk_seconds"], c1["hotline"], c1["agent"]) == (
            "Thành công", 10.0, 120.0, "1022", "ĐTV A")
        rows, total = R.call_detail(s, SYSTEM, R.VcFilters(q="KH-c4"))
        assert total == 1 and rows[0]["outcome"] == "failed"
        board = R.live(s, SYSTEM, R.VcFilters(), now=BASE + timedelta(days=2, minutes=1))
        assert [c["code"] for c in board["calls"]] == [hist.codes["c5"]]
        assert board["calls"][0]["seconds"] == 60.0 and board["call_counts"]["connected"] == 1
        assert {a["agent"] for a in board["agents"]} == {"ĐTV A", "ĐTV B", "ĐTV C"}
    seen: list[Event] = []
    target = EventBus()
    target.subscribe(seen.append)
    relay = relay_for(database, target)
    relay(Event(type="videocall.call", data={"call_id": hist.calls["c5"], "what": "state"}, user_ids=[])).result(10)
    relay(Event(type="videocall.call", data={"call_id": "khongco"})).result(10)
    assert relay(Event(type="sms.received", data={})) is None
    # an agent's status change (VC-23) carries its organization: relayed without a look-up
    relay(Event(type="videocall.agent_status", org_id=hist.org, permission="videocall.monitor",
                data={"agent_id": "a1", "status": "paused"})).result(10)
    assert [(e.type, e.org_id, e.permission, e.data["status"]) for e in seen] == [
        ("videocall.monitor", hist.org, "videocall.monitor", "connected"),
        ("videocall.monitor", hist.org, "videocall.monitor", "paused")]
    assert seen[1].data["cause"] == "videocall.agent_status" and seen[1].data["agent_id"] == "a1"


def test_json_twins_scope_and_partner(client, database, world, hist):
    world.user("xemcuocgoi", roles=["videocall.read"])
    assert client.get(f"{API}/stats", headers=login(client, "xemcuocgoi")).status_code == 403  # videocall.reports
    world.user("baocao", roles=["videocall.reports"])
    h = login(client, "baocao")
    r = client.get(f"{API}/stats?by=unit", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {x["label"]: x["total"] for x in body["rows"]} == {"HN": 4, "HCM": 2} and body["totals"]["total"] == 6
    r = client.get(f"{API}/calls?since=2026-11-11&until=2026-11-11", headers=h)
    assert r.json()["total"] == 2
    assert client.get(f"{API}/events?errors=true", headers=h).json()["total"] == 6
    assert client.get(f"{API}/stats?by=colour", headers=h).status_code == 422
    assert client.get(f"{API}/calls?since=hôm-qua", headers=h).status_code == 422
    assert client.get(f"{API}/live", headers=h).status_code == 403  # needs videocall.monitor
    world.user("giamsat", roles=["videocall.monitor"])
    assert [c["code"] for c in client.get(f"{API}/live", headers=login(client, "giamsat")).json()["calls"]] == [
        hist.codes["c5"]]
    # another organization sees nothing of A
    world.user("baocaob", org="b", dept="B1", roles=["videocall.reports"])
    hb = login(client, "baocaob")
    assert client.get(f"{API}/calls", headers=hb).json()["total"] == 0
    assert client.get(f"{API}/agents", headers=hb).json()["rows"] == []
    # a partner sees its own calls only (c1)
    pc = partner_client(client, database, world.org_a, code="APP2")
    with database.session() as s:
        from ketnoi.videocall.models import VcCall

        s.get(VcCall, hist.calls["c2"]).partner_id = pc.partner_id
        s.commit()
    assert [x["code"] for x in pc("GET", f"{API}/calls").json()["rows"]] == [hist.codes["c2"]]


def test_console_pages_charts_and_typed_xlsx(client, world, hist):
    world.user("baocao", roles=["videocall.reports"])
    h = login(client, "baocao")
    for kind in ("calls", "events", "stats", "performance", "agents", "presence", "team"):
        r = client.get(f"/videocall/reports/{kind}", headers=h)
        assert r.status_code == 200, (kind, r.text[:300])
    page = client.get("/videocall/reports/stats?by=group", headers=h).text
    assert "<svg" in page and "Nhóm Một – Thành công: 2" in page and "Thống kê cuộc gọi theo tiêu chí" in page
    assert "<polyline" in client.get("/videocall/reports/performance?bucket=day", headers=h).text
    assert "Không ai nhận cuộc gọi" in client.get("/videocall/reports/events?errors=true", headers=h).text

    r = client.get("/videocall/reports/stats.xlsx?by=group", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws["A1"].value.startswith("Thống kê cuộc gọi theo tiêu chí")
    headers = [c.value for c in ws[4]]
    assert headers[:5] == ["Nhóm thống kê", "Tổng cuộc gọi", "Thành công", "Nhỡ", "Lỗi"]
    data = {row[0].value: row for row in ws.iter_rows(min_row=5)}
    g1 = data["Nhóm Một"]
    assert (g1[1].value, g1[2].value, g1[3].value, g1[4].value) == (4, 2, 1, 1)
    assert g1[1].data_type == "n" and isinstance(g1[1].value, int)
    rate = g1[headers.index("Tỷ lệ nhận (%)")]
    assert rate.value == 0.5 and rate.number_format == "0.0%"

    r = client.get("/videocall/reports/calls.xlsx", headers=h)
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(min_row=5))
    assert len(rows) == 6
    hdr = [c.value for c in ws[4]]
    first = {hdr[i]: c for i, c in enumerate(rows[-1])}  # oldest last: c1
    assert first["Mã cuộc gọi"].value == hist.codes["c1"]
    assert first["Bắt đầu"].is_date and first["Bắt đầu"].value == BASE.replace(tzinfo=None)
    assert first["Đàm thoại (giây)"].value == 120.0 and first["Kết quả"].value == "Thành công"
