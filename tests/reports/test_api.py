"""Reports through the API: create, validation, lists and views, unit scope, auto-dispatch with a
hub toast to the unit manager, SLA due times, notifications, attachments, public lookup."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ketnoi.db.base import utcnow
from ketnoi.outbox.models import OutboxMessage
from ketnoi.reports import rules
from ketnoi.reports import schemas as S
from ketnoi.reports.models import Report
from ketnoi.reports.workflow import Status
from tests.conftest import login
from tests.reports.factory import ReportWorld


@pytest.fixture
def rw(world):
    return ReportWorld(world)


def body(rw, **extra):
    return {"title": "Đèn đường hỏng", "content": "Đèn đường trước số 10 Lê Lợi không sáng.", "channel": "phone",
            "citizen_name": "Trần Thị Bình", "citizen_phone": "0935 111 222", "category_id": rw.waste,
            "area_id": rw.ward, **extra}


def test_create_assigns_code_normalizes_phone_and_writes_history(client, rw):
    h = login(client, "dieuphoi")
    r = client.post("/api/v1/reports", headers=h, json=body(rw))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["code"].startswith(f"PA-{utcnow().year}-") and out["code"].endswith("000001")
    assert out["citizen_phone"] == "+84935111222" and out["status"] == "new"
    assert "dispatch" in out["actions"] and "mark_spam" in out["actions"]
    second = client.post("/api/v1/reports", headers=h, json=body(rw)).json()
    assert second["code"].endswith("000002")
    prog = client.get(f"/api/v1/reports/{out['id']}/progress", headers=h).json()
    assert prog["entries"][0]["action"] == "create" and prog["entries"][0]["action_label"] == "Tiếp nhận"


def test_create_validates_with_vietnamese_messages(client, rw):
    h = login(client, "dieuphoi")
    r = client.post("/api/v1/reports", headers=h, json={"title": "", "content": "x", "channel": "fax"})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"title", "channel"} <= fields
    r = client.post("/api/v1/reports", headers=h, json=body(rw, citizen_phone="123"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "citizen_phone"
    r = client.post("/api/v1/reports", headers=h, json=body(rw, category_id="khong-co"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "category_id"


def test_illegal_transition_is_409_in_vietnamese(client, rw):
    h = login(client, "dieuphoi")
    rid = client.post("/api/v1/reports", headers=h, json=body(rw)).json()["id"]
    r = client.post(f"/api/v1/reports/{rid}/transitions", headers=h, json={"action": "close"})
    assert r.status_code == 409 and "Không thể 'Hoàn tất" in r.json()["detail"]
    r = client.post(f"/api/v1/reports/{rid}/transitions", headers=h, json={"action": "bay"})
    assert r.status_code == 422


def test_unit_scope_in_lists_and_detail(client, rw):
    rid = rw.report_in(Status.DISPATCHED)  # dispatched to A-ROOT
    other = rw.world.user("cv.ngoai", roles=["reports.read", "reports.process"], dept="A-OTHER")
    assert other
    inside = login(client, "lanhdao")
    outside = login(client, "cv.ngoai")
    assert client.get(f"/api/v1/reports/{rid}", headers=inside).status_code == 200
    assert client.get(f"/api/v1/reports/{rid}", headers=outside).status_code == 404
    assert client.get("/api/v1/reports", headers=outside).json()["total"] == 0
    assert client.get("/api/v1/reports?view=dispatched", headers=inside).json()["total"] == 1
    # another organization never sees it, even with every permission
    rw.world.user("b.coord", org="b", dept="B1", roles=["reports.read", "reports.coordinate", "scope.all_units"])
    b = login(client, "b.coord")
    assert client.get(f"/api/v1/reports/{rid}", headers=b).status_code == 404
    assert client.get("/api/v1/reports", headers=b).json()["total"] == 0


def test_views_and_filters(client, rw):
    rw.report_in(Status.NEW)
    rw.report_in(Status.IN_PROGRESS)
    rw.report_in(Status.CLOSED)
    spam = rw.report_in(Status.SPAM)
    h = login(client, "dieuphoi")
    counts = client.get("/api/v1/reports/counts", headers=h).json()
    assert counts["new"] == 1 and counts["in_progress"] == 1 and counts["processed"] == 1 and counts["spam"] == 1
    assert counts["all"] == 4
    r = client.get("/api/v1/reports?view=all&status=closed,spam&sort=code", headers=h).json()
    assert r["total"] == 2
    assert client.get(f"/api/v1/reports?unit_id={rw.world.dept['A-ROOT']}", headers=h).json()["total"] == 2
    assert client.get("/api/v1/reports?q=Lê Duẩn", headers=h).json()["total"] == 4
    assert client.get("/api/v1/reports?view=nope", headers=h).status_code == 422
    assert client.get("/api/v1/reports?status=bogus", headers=h).status_code == 422
    code = client.get(f"/api/v1/reports/{spam}", headers=h).json()["code"]
    assert client.get(f"/api/v1/reports?q={code}", headers=h).json()["total"] == 1


def test_overdue_view_and_flags(client, rw, database):
    rid = rw.report_in(Status.IN_PROGRESS)
    with database.session() as s:
        r = s.get(Report, rid)
        r.due_at = utcnow() - timedelta(hours=1)
    h = login(client, "dieuphoi")
    items = client.get("/api/v1/reports?view=overdue", headers=h).json()["items"]
    assert [i["id"] for i in items] == [rid] and items[0]["overdue"] is True


def test_auto_dispatch_sets_unit_due_time_and_tells_the_manager(client, rw, database):
    with database.session() as s:
        rules.create_sla(s, rw.actor("coordinator"), S.SlaRuleIn(category_id=rw.env, hours=24))
        rules.create_rule(s, rw.actor("coordinator"), S.DispatchRuleIn(
            name="Rác thải Hải Châu → Sở A", department_id=rw.world.dept["A-ROOT"], category_ids=[rw.env],
            area_ids=[rw.province]))
    manager = login(client, "lanhdao")
    token = manager["Authorization"].split()[1]
    with client.websocket_connect(f"/api/v1/hub?token={token}") as ws:
        assert ws.receive_json()["type"] == "hub.ready"
        r = client.post("/api/v1/reports", headers=login(client, "dieuphoi"), json=body(rw))
        out = r.json()
        assert out["status"] == "dispatched" and out["unit_id"] == rw.world.dept["A-ROOT"]
        seen = {}
        for _ in range(4):
            ev = ws.receive_json()
            seen[ev["type"]] = ev
            if "report.awaiting" in seen and "report.dispatched" in seen:
                break
        assert seen["report.awaiting"]["data"]["code"] == out["code"]
        assert "chờ bạn phân công" in seen["report.awaiting"]["data"]["message"]
    with database.session() as s:
        rep = s.get(Report, out["id"])
        assert abs((rep.due_at - rep.dispatched_at).total_seconds() - 24 * 3600) < 1
        assert rep.history[-1].action == "auto_dispatch"


def test_notification_settings_send_sms_through_outbox(client, rw, database):
    h = login(client, "lanhdao")
    r = client.put("/api/v1/auth/me/notifications", headers=h, json={
        "on_assignment": True, "template": "Có phản ánh {code} chờ {task}, hạn {due}"})
    assert r.status_code == 200
    bad = client.put("/api/v1/auth/me/notifications", headers=h, json={"template": "Xin {ten}"})
    assert bad.status_code == 422 and "Biến không hỗ trợ" in bad.json()["detail"]
    rw.report_in(Status.DISPATCHED)
    with database.session() as s:
        msgs = s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "report_assignment")).all()
        assert len(msgs) == 1 and msgs[0].recipient == "+84912000002"
        assert msgs[0].body.startswith("Có phản ánh PA-") and "chờ phân công" in msgs[0].body


def test_citizen_is_told_at_receipt_and_result(rw, database):
    rid = rw.report_in(Status.CLOSED)
    with database.session() as s:
        purposes = [m.purpose for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.recipient == "+84905123456"))]
        assert purposes.count("report_received") == 1 and purposes.count("report_result") == 1
        assert s.get(Report, rid).closed_at is not None


def test_edit_checks_version_and_is_audited(client, rw):
    h = login(client, "dieuphoi")
    out = client.post("/api/v1/reports", headers=h, json=body(rw)).json()
    r = client.patch(f"/api/v1/reports/{out['id']}", headers=h, json={"title": "Đèn đường hỏng nhiều ngày",
                                                                     "version": out["version"]})
    assert r.status_code == 200 and r.json()["version"] == out["version"] + 1
    stale = client.patch(f"/api/v1/reports/{out['id']}", headers=h, json={"title": "Cũ", "version": out["version"]})
    assert stale.status_code == 409


def test_delete_only_new_or_spam(client, rw):
    h = login(client, "dieuphoi")
    busy = rw.report_in(Status.IN_PROGRESS)
    assert client.delete(f"/api/v1/reports/{busy}", headers=h).status_code == 409
    new = rw.report_in(Status.NEW)
    assert client.delete(f"/api/v1/reports/{new}", headers=h).status_code == 204
    assert client.get(f"/api/v1/reports/{new}", headers=h).status_code == 404


def test_attachments_checked_by_content(client, rw):
    h = login(client, "dieuphoi")
    rid = rw.report_in(Status.NEW)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    r = client.post(f"/api/v1/reports/{rid}/attachments", headers=h, files={"file": ("anh.png", png, "image/png")})
    assert r.status_code == 201 and r.json()["content_type"] == "image/png"
    fake = client.post(f"/api/v1/reports/{rid}/attachments", headers=h,
                       files={"file": ("virus.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")})
    assert fake.status_code == 422
    renamed = client.post(f"/api/v1/reports/{rid}/attachments", headers=h,
                          files={"file": ("anh.pdf", png, "application/pdf")})
    assert renamed.status_code == 422 and "không khớp" in renamed.json()["detail"]
    got = client.get(f"/api/v1/reports/{rid}/attachments/{r.json()['id']}", headers=h)
    assert got.status_code == 200 and got.content == png


def test_public_lookup_by_code_and_phone(client, rw):
    rid = rw.report_in(Status.CLOSED)
    h = login(client, "dieuphoi")
    code = client.get(f"/api/v1/reports/{rid}", headers=h).json()["code"]
    r = client.get(f"/api/v1/public/reports/lookup?code={code}&phone=0905123456")
    assert r.status_code == 200
    out = r.json()
    assert out["status_label"] == "Đã xử lý xong" and out["result"].startswith("Đã thu gom")
    assert "Ghi chú" not in str(out)  # officials' notes never leak
    assert client.get(f"/api/v1/public/reports/lookup?code={code}&phone=0905000000").status_code == 404


def test_dates_without_offset_are_read_in_platform_zone(client, rw):
    rw.report_in(Status.NEW)
    h = login(client, "dieuphoi")
    r = client.get("/api/v1/reports?since=2020-01-01T00:00:00&until=2100-01-01", headers=h)
    assert r.status_code == 200 and r.json()["total"] == 1
