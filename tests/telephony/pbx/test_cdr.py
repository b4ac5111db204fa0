"""Call records (CC-21, CRM-08): the engine-facing functions (each commits; hub events after the
commit), durations and billable seconds, crash recovery, the filtered history, and the recording
download guarded by ``telephony.recordings`` and the organization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ketnoi.events import bus
from ketnoi.telephony.pbx import calls, cdr
from ketnoi.telephony.pbx.models import CallRecord
from tests.conftest import login
from tests.telephony.pbx.conftest import wav_bytes

API = "/api/v1/telephony/calls"
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội


@pytest.fixture
def events():
    seen = []
    bus.subscribe(seen.append)
    yield seen
    bus.unsubscribe(seen.append)


def inbound_call(database, org, caller="0912345678", start=T0, answer_after=5, talk=60, recording="",
                 disposition="answered"):
    with database.session() as s:
        call = cdr.start_call(s, organization_id=org, direction="inbound", caller=caller, called="1022",
                              trunk_id="t1", trunk_name="VNPT", sip_call_id="abc@203.0.113.5", started_at=start,
                              route_name="Tổng đài 1022")
        a = cdr.add_leg(s, call, role="caller", endpoint_kind="trunk", endpoint="VNPT", number=caller,
                        remote_address="203.0.113.5:5060", started_at=start)
        b = cdr.add_leg(s, call, role="callee", endpoint_kind="extension", endpoint="1001", number="1001",
                        started_at=start + timedelta(seconds=1))
        if disposition == "answered":
            cdr.answer(s, call, leg_id=b, at=start + timedelta(seconds=answer_after), extension="1001", codec="PCMA")
        end = start + timedelta(seconds=answer_after + talk)
        cdr.end_call(s, call, disposition=disposition, hangup_by="caller", sip_cause=200 if disposition == "answered"
                     else 487, at=end, recording_path=recording,
                     quality={a: cdr.LegQuality(3000, 2990, 10, 4.5, 38.0)})
        return call, a, b


def test_a_call_from_start_to_end(database, world, events):
    call, a, b = inbound_call(database, world.org_a)
    with database.session() as s:
        c = s.get(CallRecord, call)
        assert (c.direction, c.caller, c.called, c.extension, c.trunk_name) == ("inbound", "0912345678", "1022",
                                                                                "1001", "VNPT")
        assert (c.disposition, c.hangup_by, c.sip_cause, c.duration, c.billsec) == ("answered", "caller", 200, 65, 60)
        legs = {leg.id: leg for leg in c.legs}
        assert [leg.seq for leg in c.legs] == [0, 1]
        assert (legs[a].packets_sent, legs[a].packets_received, legs[a].packets_lost, legs[a].jitter_ms,
                legs[a].rtt_ms) == (3000, 2990, 10, 4.5, 38.0)
        assert legs[b].disposition == "answered" and legs[b].codec == "PCMA" and legs[b].ended_at == c.ended_at
    kinds = [e.type for e in events if e.type.startswith("call.")]
    assert kinds == ["call.started", "call.answered", "call.ended"]
    ended = events[-1]
    assert ended.org_id == world.org_a and ended.permission == "telephony.calls.read"
    assert ended.data["call_id"] == call and ended.data["duration"] == 65 and ended.data["billsec"] == 60
    assert ended.data["disposition"] == "answered" and ended.data["trunk"] == "VNPT"
    answered = next(e for e in events if e.type == "call.answered")
    assert answered.data["leg"] == {"id": b, "role": "callee", "endpoint_kind": "extension", "endpoint": "1001",
                                    "number": "1001"}


def test_the_caller_leg_is_closed_as_answered_only_if_it_was(database, world):
    call, a, b = inbound_call(database, world.org_a)
    with database.session() as s:
        legs = {leg.id: leg for leg in s.get(CallRecord, call).legs}
        assert legs[a].disposition == "cancelled"  # never marked answered: it was the caller's own dialog
        assert legs[b].disposition == "answered"


def test_unanswered_call_bills_nothing_and_ringing_publishes_without_writing(database, world, events):
    with database.session() as s:
        call = cdr.start_call(s, organization_id=world.org_a, direction="internal", caller="1001", called="1002",
                              extension="1001", started_at=T0)
        leg = cdr.add_leg(s, call, role="callee", endpoint_kind="extension", endpoint="1002", number="1002")
        cdr.ringing(s, call, leg)
        cdr.end_leg(s, leg, disposition="no_answer", sip_cause=480, at=T0 + timedelta(seconds=30))
        assert cdr.end_call(s, call, disposition="no_answer", hangup_by="caller", sip_cause=480,
                            at=T0 + timedelta(seconds=31)) is True
        assert cdr.end_call(s, call, disposition="answered", at=T0 + timedelta(seconds=99)) is False  # idempotent
    with database.session() as s:
        c = s.get(CallRecord, call)
        assert (c.disposition, c.duration, c.billsec, c.legs[0].disposition, c.legs[0].sip_cause) == (
            "no_answer", 31, 0, "no_answer", 480)
    ringing = [e for e in events if e.type == "call.ringing"]
    assert len(ringing) == 1 and ringing[0].data["leg"]["endpoint"] == "1002"


def test_bad_values_from_the_engine_are_programming_errors(database, world):
    with database.session() as s:
        with pytest.raises(ValueError):
            cdr.start_call(s, organization_id=world.org_a, direction="sideways", caller="1", called="2")
        call = cdr.start_call(s, organization_id=world.org_a, direction="inbound", caller="1", called="2")
        with pytest.raises(ValueError):
            cdr.end_call(s, call, disposition="exploded")
        with pytest.raises(ValueError):  # a recording must live under data_dir/telephony/recordings
            cdr.end_call(s, call, disposition="answered", recording_path="/etc/passwd")
        with pytest.raises(LookupError):
            cdr.answer(s, "khong-co")


def test_crash_recovery_closes_live_calls(database, world):
    with database.session() as s:
        live = cdr.start_call(s, organization_id=world.org_a, direction="inbound", caller="0912345678",
                              called="1022", started_at=T0)
        cdr.answer(s, live, at=T0 + timedelta(seconds=3))
    with database.session() as s:
        assert cdr.close_stale_calls(s, now=T0 + timedelta(hours=1)) == 1
        assert cdr.close_stale_calls(s, now=T0 + timedelta(hours=1)) == 0
    with database.session() as s:
        c = s.get(CallRecord, live)
        assert (c.disposition, c.hangup_by, c.billsec) == ("failed", "system", 0)


def test_a_finished_call_survives_a_crash_right_after_end_call(database, world):
    """Every function commits: a session that is never committed or closed afterwards loses nothing."""
    s = database.sessionmaker()
    call = cdr.start_call(s, organization_id=world.org_a, direction="inbound", caller="0912", called="1022")
    cdr.end_call(s, call, disposition="cancelled", hangup_by="caller")
    # no commit, no close: the process "dies" here; another connection sees the finished call
    with database.session() as other:
        assert other.get(CallRecord, call).disposition == "cancelled"
    s.close()


def test_history_filters(client, world, database):
    world.user("xemcuocgoi", roles=["telephony.calls.read"])
    inbound_call(database, world.org_a, "0912345678", T0)
    inbound_call(database, world.org_a, "+84987654321", T0 + timedelta(days=1), disposition="cancelled")
    inbound_call(database, world.org_a, "0241234567", T0 + timedelta(days=2), disposition="busy")
    inbound_call(database, world.org_b, "0912345678", T0)
    h = login(client, "xemcuocgoi")

    def numbers(q=""):
        r = client.get(f"{API}?{q}", headers=h)
        assert r.status_code == 200, r.text
        return [c["caller"] for c in r.json()["items"]]

    assert numbers() == ["0241234567", "+84987654321", "0912345678"]  # newest first, org A only
    assert numbers("caller=84912345678") == ["0912345678"]  # number forms are equivalent
    assert numbers("number=0987654321") == ["+84987654321"]
    assert numbers("called=1022&disposition=busy") == ["0241234567"]
    assert numbers("direction=outbound") == []
    assert numbers("since=2026-11-21T00:00:00%2B07:00&until=2026-11-22T00:00:00%2B07:00") == ["+84987654321"]
    assert numbers("since=2026-11-21T00:00:00") == ["0241234567", "+84987654321"]  # read in Asia/Ho_Chi_Minh
    assert numbers("sort=duration&page_size=1") == ["0912345678"]
    r = client.get(f"{API}?since=2026-11-23T00:00:00Z&until=2026-11-20T00:00:00Z", headers=h)
    assert r.status_code == 422 and "phải sau thời điểm bắt đầu" in r.json()["detail"]
    assert client.get(f"{API}?disposition=khac", headers=h).status_code == 422


def test_number_variants():
    assert calls.number_variants("0912 345 678") == ["0912345678", "+84912345678", "84912345678"]
    assert calls.number_variants("+84912345678") == ["+84912345678", "84912345678", "0912345678"]
    assert calls.number_variants("1001") == ["1001"]
    assert calls.number_variants("") == []


def _recorded_call(database, world, org):
    root = cdr.recording_dir(org)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{org}-call.wav"
    path.write_bytes(wav_bytes(0.5, 8000, 2))
    call, _, _ = inbound_call(database, org, recording=path)
    with database.session() as s:
        assert s.get(CallRecord, call).recording_path == f"{org}/{org}-call.wav"  # stored relative
    return call, path


def test_recording_needs_its_own_role_and_the_organization(client, world, database):
    call, path = _recorded_call(database, world, world.org_a)
    b_call, _ = _recorded_call(database, world, world.org_b)
    world.user("xemcuocgoi", roles=["telephony.calls.read"])
    world.user("nghe", roles=["telephony.recordings"])
    reader = login(client, "xemcuocgoi")
    detail = client.get(f"{API}/{call}", headers=reader).json()
    assert detail["has_recording"] is True and detail["recording_url"] is None and len(detail["legs"]) == 2
    r = client.get(f"{API}/{call}/recording", headers=reader)
    assert r.status_code == 403 and r.json()["detail"] == "Bạn không có quyền thực hiện chức năng này."

    listener = login(client, "nghe")
    assert client.get(f"{API}/{call}", headers=listener).json()["recording_url"] == f"{API}/{call}/recording"
    r = client.get(f"{API}/{call}/recording", headers=listener)
    assert r.status_code == 200 and r.content == path.read_bytes() and r.headers["content-type"] == "audio/wav"
    assert r.headers["content-disposition"].startswith("inline")
    r = client.get(f"{API}/{call}/recording?download=true", headers=listener)
    assert r.headers["content-disposition"].startswith("attachment") and "ghi-am-20261120-090000-0912345678.wav" in \
        r.headers["content-disposition"]
    r = client.get(f"{API}/{call}/recording", headers={**listener, "Range": "bytes=44-"})
    assert r.status_code == 206 and r.content == path.read_bytes()[44:]
    assert client.get(f"{API}/{b_call}/recording", headers=listener).status_code == 404
    assert client.get(f"{API}/{b_call}", headers=listener).status_code == 404


def test_recording_path_cannot_leave_the_recordings_directory(client, world, database):
    call, _ = _recorded_call(database, world, world.org_a)
    with database.session() as s:
        s.get(CallRecord, call).recording_path = "../../secret_key"
    world.user("nghe", roles=["telephony.recordings"])
    r = client.get(f"{API}/{call}/recording", headers=login(client, "nghe"))
    assert r.status_code == 404 and r.json()["detail"] == "Tệp ghi âm không còn trên máy chủ."
