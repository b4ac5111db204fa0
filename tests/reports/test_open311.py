"""Open311 GeoReport v2 under /open311/v2: services from categories, requests created with an
api_key (a bearer token holding reports.create), public reads without citizens' personal data,
filters of GET requests, spam never published, problem+json errors and .xml refused."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from ketnoi.db.base import utcnow
from ketnoi.reports.models import Report
from ketnoi.reports.workflow import Status
from tests.conftest import login
from tests.reports.factory import ReportWorld

BASE = "/open311/v2"
PROBLEM = "application/problem+json"


@pytest.fixture
def rw(world):
    return ReportWorld(world)


@pytest.fixture
def key(client, rw):
    """An Open311 api_key: the bearer token of the coordinator (holds reports.create)."""
    return login(client, "dieuphoi")["Authorization"].split()[1]


def post(client, key: str | None, **fields):
    data = {"service_code": "MT-RAC", "lat": "16.0678", "long": "108.2208", "description": "Rác tràn ra lòng đường",
            "first_name": "Văn Dân", "last_name": "Nguyễn", "phone": "0905 123 456", "email": "dan@example.vn",
            "address_string": "12 Lê Duẩn, Hải Châu", "media_url": "http://example.vn/anh.jpg", **fields}
    if key is not None:
        data["api_key"] = key
    return client.post(f"{BASE}/requests.json", data={k: v for k, v in data.items() if v is not None})


def problem(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:400])
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["detail"]
    return body


def test_services_are_the_organizations_categories(client, rw):
    r = client.get(f"{BASE}/services.json?jurisdiction_id=ORG-A")
    assert r.status_code == 200, r.text
    services = {s["service_code"]: s for s in r.json()}
    assert set(services) == {"MT", "MT-RAC"}
    assert services["MT-RAC"] == {"service_code": "MT-RAC", "service_name": "Rác thải", "description": "",
                                  "metadata": False, "type": "realtime", "keywords": "", "group": "Môi trường"}
    assert services["MT"]["group"] == ""
    assert client.get(f"{BASE}/services.json?jurisdiction_id=ORG-B").json() == []
    d = client.get(f"{BASE}/services/MT-RAC.json?jurisdiction_id=ORG-A")
    assert d.status_code == 200 and d.json() == {"service_code": "MT-RAC", "attributes": []}
    assert "Không có dịch vụ" in problem(client.get(f"{BASE}/services/KHONG.json?jurisdiction_id=ORG-A"), 404)["detail"]


def test_jurisdiction_is_required_when_several_organizations(client, rw):
    body = problem(client.get(f"{BASE}/services.json"), 400)
    assert body["errors"][0]["field"] == "jurisdiction_id" and "mã tổ chức" in body["detail"]
    assert "Không có tổ chức" in problem(client.get(f"{BASE}/services.json?jurisdiction_id=NOPE"), 404)["detail"]


def test_post_creates_a_web_report_for_the_keys_organization(client, rw, key, database):
    r = post(client, key)
    assert r.status_code == 201, r.text
    [created] = r.json()
    code = created["service_request_id"]
    assert code.startswith("PA-") and code in created["service_notice"] and created["account_id"] is None
    with database.session() as s:
        rep = s.scalar(select(Report).where(Report.code == code))
    assert rep.organization_id == rw.world.org_a and rep.channel == "web" and rep.status == "new"
    assert rep.category_id == rw.waste and rep.title == "Rác thải: Rác tràn ra lòng đường"
    assert rep.content == "Rác tràn ra lòng đường" and rep.citizen_name == "Nguyễn Văn Dân"
    assert rep.citizen_phone == "+84905123456" and rep.citizen_email == "dan@example.vn"
    assert rep.citizen_address == "12 Lê Duẩn, Hải Châu"
    assert (rep.latitude, rep.longitude) == (16.0678, 108.2208)
    # the Authorization header works as well, and jurisdiction_id may name the key's own organization
    r = client.post(f"{BASE}/requests.json", headers={"Authorization": f"Bearer {key}"},
                    data={"service_code": "MT", "address_string": "Chợ Hàn", "jurisdiction_id": "ORG-A"})
    assert r.status_code == 201, r.text
    with database.session() as s:
        rep = s.scalar(select(Report).where(Report.code == r.json()[0]["service_request_id"]))
    assert rep.title == "Môi trường tại Chợ Hàn" and rep.content == rep.title


def test_post_refuses_missing_or_weak_keys_and_bad_input(client, rw, key, world):
    body = problem(post(client, None), 401)
    assert "api_key" in body["detail"]
    assert problem(post(client, "khong-phai-token"), 401)["detail"]
    world.user("chi-xem", roles=["home", "reports.read"])
    weak = login(client, "chi-xem")["Authorization"].split()[1]
    assert "reports.create" in problem(post(client, weak), 403)["detail"]

    for fields, field in (({"service_code": "KHONG"}, "service_code"), ({"phone": "123"}, "phone"),
                          ({"email": "khong-phai-email"}, "email"), ({"lat": "91"}, "lat"),
                          ({"lat": "abc"}, "lat"), ({"long": None}, "long"),
                          ({"lat": None, "long": None, "address_string": ""}, "lat"),
                          ({"service_code": ""}, "service_code"), ({"jurisdiction_id": "ORG-B"}, "jurisdiction_id"),
                          ({"description": "x" * 4001}, "description")):
        body = problem(post(client, key, **fields), 400)
        assert body["errors"][0]["field"] == field, (fields, body)
    r = client.post(f"{BASE}/requests.json", json={"service_code": "MT", "api_key": key})
    problem(r, 400)


def test_public_reads_map_reports_without_personal_data(client, rw, key, database):
    code = post(client, key).json()[0]["service_request_id"]
    closed = rw.report_in(Status.CLOSED)
    spam = rw.report_in(Status.SPAM)
    with database.session() as s:
        codes = {r.id: r.code for r in s.scalars(select(Report))}
        s.execute(update(Report).where(Report.code == code).values(area_id=rw.ward))
    r = client.get(f"{BASE}/requests.json?jurisdiction_id=ORG-A")
    assert r.status_code == 200, r.text
    items = {i["service_request_id"]: i for i in r.json()}
    assert set(items) == {code, codes[closed]}  # spam is not published
    mine = items[code]
    assert mine["status"] == "open" and mine["status_notes"] == "Đã tiếp nhận"
    assert mine["service_code"] == "MT-RAC" and mine["service_name"] == "Rác thải"
    assert mine["address"] == "Phường Hải Châu, Thành phố Đà Nẵng" and mine["lat"] == 16.0678
    assert mine["long"] == 108.2208 and mine["agency_responsible"] == "" and mine["expected_datetime"] is None
    assert mine["requested_datetime"].endswith("+07:00") and mine["updated_datetime"].endswith("+07:00")
    done = items[codes[closed]]
    assert done["status"] == "closed" and done["status_notes"] == "Đã xử lý xong" and done["agency_responsible"] == "Sở A"
    assert done["expected_datetime"].endswith("+07:00")
    for secret in ("Nguyễn", "Văn Dân", "0905", "+84905123456", "dan@example.vn", "12 Lê Duẩn", "Rác tràn",
                   "Đã thu gom", "Ghi chú thao tác"):
        assert secret not in r.text, secret

    one = client.get(f"{BASE}/requests/{code}.json?jurisdiction_id=ORG-A")
    assert one.status_code == 200 and one.json() == [mine]
    assert client.get(f"{BASE}/requests/{code.lower()}.json?jurisdiction_id=ORG-A").status_code == 200
    problem(client.get(f"{BASE}/requests/{codes[spam]}.json?jurisdiction_id=ORG-A"), 404)
    problem(client.get(f"{BASE}/requests/{code}.json?jurisdiction_id=ORG-B"), 404)  # another organization


def test_request_filters(client, rw, key, database):
    new = post(client, key).json()[0]["service_request_id"]
    other = post(client, key, service_code="MT").json()[0]["service_request_id"]
    closed_id = rw.report_in(Status.CLOSED)
    old_id = rw.new_report()
    with database.session() as s:
        code = {r.id: r.code for r in s.scalars(select(Report))}
        s.execute(update(Report).where(Report.id == old_id).values(received_at=utcnow() - timedelta(days=200)))
    closed, old = code[closed_id], code[old_id]

    def got(query: str) -> set[str]:
        r = client.get(f"{BASE}/requests.json?jurisdiction_id=ORG-A&{query}")
        assert r.status_code == 200, (query, r.text)
        return {i["service_request_id"] for i in r.json()}

    assert got("") == {new, other, closed}  # the last 90 days by default
    assert got("status=closed") == {closed}
    assert got("status=open") == {new, other}
    assert got("status=open,closed") == {new, other, closed}
    assert got("service_code=MT") == {other}
    assert got("service_code=MT-RAC,MT") == {new, other, closed}
    local = ZoneInfo("Asia/Ho_Chi_Minh")
    start = (utcnow() - timedelta(days=365)).astimezone(local).isoformat(timespec="seconds")
    end = (utcnow() - timedelta(days=100)).astimezone(local).strftime("%Y-%m-%dT%H:%M:%S")  # no offset: local
    assert got(f"start_date={start.replace('+', '%2B')}&end_date={end}") == {old}
    assert got(f"start_date={start.replace('+', '%2B')}") == {new, other, closed, old}
    assert got(f"service_request_id={new},{old}&status=closed") == {new, old}  # ids override other filters

    assert problem(client.get(f"{BASE}/requests.json?jurisdiction_id=ORG-A&status=pending"), 400)
    assert problem(client.get(f"{BASE}/requests.json?jurisdiction_id=ORG-A&start_date=hom-qua"), 400)
    assert problem(client.get(f"{BASE}/requests.json?jurisdiction_id=ORG-A&start_date=0001-01-01T00:00:00%2B14:00"),
                   400)["errors"][0]["field"] == "start_date"
    body = problem(client.get(f"{BASE}/requests.json?jurisdiction_id=ORG-A&start_date=2026-02-01T00:00:00Z"
                              "&end_date=2026-01-01T00:00:00Z"), 400)
    assert body["errors"][0]["field"] == "start_date"


def test_xml_is_refused_with_a_clear_message_and_unknown_paths_are_404(client, rw, key):
    for method, path in (("GET", "services.xml"), ("GET", "services/MT.xml"), ("GET", "requests.xml"),
                         ("POST", "requests.xml"), ("GET", "requests/PA-2026-000001.xml")):
        body = problem(client.request(method, f"{BASE}/{path}"), 400)
        assert "XML chưa được hỗ trợ" in body["detail"] and ".json" in body["detail"]
    problem(client.get(f"{BASE}/khong-co.json"), 404)


def test_open311_routes_are_marked_public_except_by_their_own_key_check(app):
    from fastapi.routing import iter_route_contexts

    seen = 0
    for ctx in iter_route_contexts(app.routes):
        if ctx.path.startswith("/open311/"):
            seen += 1
            assert getattr(ctx.endpoint, "ketnoi_public", False), ctx.path
    assert seen >= 10
