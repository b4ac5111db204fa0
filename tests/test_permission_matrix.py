"""The permission matrix: every route says who may use it, and the declarations hold.

* Every route of the app declares a permission (``requires``/``console``), or is explicitly public
  (``ketnoi_public``) or login-only (``ketnoi_auth_only``) — a new route without a declaration fails.
* API: anonymous → 401; a user without the permission → 403 problem; a holder → neither (GET).
* Console: anonymous → 303 to /login; a logged-in user without the permission → 403 page.
* Organizations never see each other's data; users without ``scope.all_units`` see only their unit subtree.

Path parameters are filled with real ids of objects of organization A, so that a 403 is a refusal
and not a 404 in disguise. Each matrix test walks all routes of its kind as sub-tests on one database
(a failure is reported as ``test_… [METHOD /path]``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from sqlalchemy import select
from starlette.routing import Mount, Route

from ketnoi.audit.models import AuditEntry
from ketnoi.identity import auth
from ketnoi.identity import schemas as S
from ketnoi.identity.auth import ip_throttle
from ketnoi.identity.models import AuthSession, Organization, Role, User
from ketnoi.identity.permissions import CATALOG
from ketnoi.identity.service import create_department, create_group
from ketnoi.outbox.service import enqueue_message
from tests.conftest import PASSWORD, login
from tests.factory import SYSTEM

API_DENIED = "Bạn không có quyền thực hiện chức năng này."
CONSOLE_DENIED = "Bạn không có quyền truy cập trang này."
# Routes FastAPI and Starlette add themselves: the OpenAPI document, Swagger UI and static files.
FRAMEWORK_ROUTES = {"/api/openapi.json", "/api/docs", "/docs/oauth2-redirect", "/static"}
# "Any logged-in user" (requires(None) / console(None)) is only for one's own account and session.
LOGIN_ONLY_PREFIXES = ("/api/v1/auth/", "/account/", "/logout")


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    kind: str  # api | console | websocket | framework
    declared: tuple  # permissions found on the dependency tree (None = any logged-in user)
    declared_by: tuple  # "requires" / "console": which factory made each declaration
    public: bool
    auth_only: bool

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def permission(self):
        """The one permission code the route needs; None for 'any logged-in user'."""
        codes = [c for c in self.declared if c is not None]
        return codes[0] if codes else None


def _declarations(dependant) -> list[tuple[str | None, str]]:
    """(permission, factory) for every ``requires``/``console`` dependency, however deeply nested."""
    found = []
    call = dependant.call
    if call is not None and hasattr(call, "ketnoi_permission"):
        found.append((call.ketnoi_permission, call.__qualname__.split(".")[0]))
    for sub in dependant.dependencies:
        found += _declarations(sub)
    return found


def route_table(app) -> list[RouteInfo]:
    """Every endpoint the app serves. ``iter_route_contexts`` flattens included routers: since FastAPI
    0.137 ``app.routes`` holds one opaque entry per ``include_router`` instead of the routes themselves."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        path = ctx.path
        if isinstance(route, (Mount, Route)) and not isinstance(route, APIRoute):
            out.append(RouteInfo("GET", path, "framework", (), (), False, False))
            continue
        endpoint = ctx.endpoint
        decl = _declarations(ctx.dependant)
        public = bool(getattr(endpoint, "ketnoi_public", False))
        auth_only = bool(getattr(endpoint, "ketnoi_auth_only", False))
        if isinstance(route, APIWebSocketRoute):
            out.append(RouteInfo("WS", path, "websocket", tuple(d[0] for d in decl), tuple(d[1] for d in decl),
                                 public, auth_only))
            continue
        assert isinstance(route, APIRoute), f"unexpected route type {type(route)} at {path}"
        kind = "api" if path.startswith("/api/") else "console"
        for method in sorted(ctx.methods - {"HEAD"}):
            out.append(RouteInfo(method, path, kind, tuple(d[0] for d in decl), tuple(d[1] for d in decl),
                                 public, auth_only))
    return out


def api_routes(app) -> list[RouteInfo]:
    """Every non-public /api/ operation."""
    return [r for r in route_table(app) if r.kind == "api" and not r.public]


def console_routes(app) -> list[RouteInfo]:
    """Every non-public page and form action outside /api/."""
    return [r for r in route_table(app) if r.kind == "console" and not r.public]


# --- every route declares who may use it ----------------------------------------------------------
def test_every_route_declares_who_may_use_it(app):
    live = route_table(app)
    # the enumeration must not go quiet (FastAPI once stopped flattening included routers)
    assert len(api_routes(app)) >= 30 and len(console_routes(app)) >= 30

    problems = []
    for r in live:
        if r.kind == "framework":
            if r.path not in FRAMEWORK_ROUTES:
                problems.append(f"{r.id}: plain Starlette route; declare access or add to FRAMEWORK_ROUTES")
            continue
        marks = [bool(r.declared_by), r.public, r.auth_only]
        if sum(marks) != 1:
            problems.append(f"{r.id}: needs exactly one of requires()/console(), ketnoi_public, ketnoi_auth_only "
                            f"(declared={r.declared}, public={r.public}, auth_only={r.auth_only})")
            continue
        if r.declared_by:
            expected = {"api": "requires", "console": "console"}.get(r.kind)
            if set(r.declared_by) != {expected}:
                problems.append(f"{r.id}: {r.kind} routes declare with {expected}(), found {r.declared_by}")
            for code in r.declared:
                if code is not None and code not in CATALOG:
                    problems.append(f"{r.id}: permission {code!r} is not in the role catalogue")
            if r.permission is None and not r.path.startswith(LOGIN_ONLY_PREFIXES):
                problems.append(f"{r.id}: open to any logged-in user; name the permission it needs")
    assert not problems, "\n".join(problems)


# --- shared data ----------------------------------------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class RealObjects:
    """One real object of organization A for every path parameter the app uses, built on first use
    (a route about users does not pay for a report). Keys are parameter names, or
    ``collection.name`` (``sla.rule_id``) where one name means different things."""

    def __init__(self, world, database):
        self.world, self.db = world, database
        self.cache: dict[str, str] = {}
        self.builders = {key: build for build, keys in (
            (self._identity, ("org_id", "dept_id", "user_id", "role_id", "group_id", "session_id", "entry_id")),
            (self._reports, ("report_id", "code", "action", "attachment_id", "area_id", "category_id", "holiday_id",
                             "dispatch-rules.rule_id", "sla-rules.rule_id", "sla.rule_id")),
            (self._jobs, ("job_id",)),
            (self._knowledge, ("procedure_id", "answer_id", "event_id", "key_id")),
            (self._sms, ("message_id", "provider_id", "template_id", "keyword-rules.rule_id", "phone")),
            (self._pbx, ("extension_id", "trunk_id", "sound_id", "inbound_route_id", "pin_set_id",
                         "outbound_route_id", "calls.call_id")),
            (self._videocall, ("video_call_id", "media_file_id")),
            (self._videocall_config, ("vc_group_id", "vc_queue_id", "vc_hotline_id", "vc_agent_id",
                                      "vc_partner_id")),
        ) for key in keys}

    def get(self, key: str) -> str | None:
        if key not in self.cache and key in self.builders:
            self.cache.update(self.builders[key]())
        return self.cache.get(key)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        assert value, key
        return value

    def _identity(self):
        world = self.world
        gid = world.group_with("G-TARGET", ["home"])
        target = world.user("muctieu", org="a", dept="A-ROOT", groups=[gid])
        with self.db.session() as s:
            auth.login(s, "muctieu", PASSWORD, kind="api")  # gives the target a session
        with self.db.session() as s:
            entry_id = s.scalar(select(AuditEntry.id).where(AuditEntry.entity_id == target,
                                                            AuditEntry.action == "user.created"))
            assert s.get(AuditEntry, entry_id).organization_id == world.org_a
            return {"org_id": world.org_a, "dept_id": world.dept["A-ROOT"], "user_id": target, "group_id": gid,
                    "role_id": s.scalar(select(Role.id).where(Role.code == "home")), "entry_id": entry_id,
                    "session_id": s.scalar(select(AuthSession.id).where(AuthSession.user_id == target))}

    def _reports(self):
        from ketnoi.reports import attachments, rules
        from ketnoi.reports import schemas as RS
        from ketnoi.reports.models import Report
        from ketnoi.reports.workflow import Status
        from tests.reports.factory import ReportWorld

        world = self.world
        rw = ReportWorld(world)
        report_id = rw.report_in(Status.DISPATCHED)  # in A-ROOT, so A-ROOT users see it
        coordinator = rw.actor("coordinator")
        with self.db.session() as s:
            report = s.get(Report, report_id)
            attachment_id = attachments.add_attachment(s, coordinator, report, "anh.png", PNG).id
            dispatch_rule = rules.create_rule(s, SYSTEM, RS.DispatchRuleIn(
                name="Rác về Sở A", department_id=world.dept["A-ROOT"], category_ids=[rw.waste],
                organization_id=world.org_a)).id
            sla_rule = rules.create_sla(s, SYSTEM, RS.SlaRuleIn(category_id=rw.waste, hours=24,
                                                                organization_id=world.org_a)).id
            holiday_id = rules.add_holiday(s, coordinator, RS.HolidayIn(day="2031-09-03", name="Nghỉ bù")).id
            return {"report_id": report_id, "code": report.code, "action": "dispatch",
                    "attachment_id": attachment_id, "area_id": rw.ward, "category_id": rw.waste,
                    "holiday_id": holiday_id, "dispatch-rules.rule_id": dispatch_rule,
                    "sla-rules.rule_id": sla_rule, "sla.rule_id": sla_rule}

    def _jobs(self):
        from ketnoi.identity.rbac import principal_for
        from ketnoi.jobs import service as jobs

        creator = self.world.user("nguoitao", org="a", dept="A-ROOT", roles=["home"])
        with self.db.session() as s:
            p = principal_for(s, s.get(User, creator))
            return {"job_id": jobs.enqueue(s, p, "reports.export", {}).id}


    def _pbx(self):
        from tests.telephony.pbx.helpers import pbx_objects

        return pbx_objects(self.db, self.world.org_a)

    def _videocall(self):
        from tests.videocall.helpers import videocall_objects

        return videocall_objects(self.db, self.world.org_a)

    def _videocall_config(self):
        from tests.videocall.config_helpers import config_objects

        user = self.world.user("dtv-cauhinh", org="a", dept="A-ROOT", roles=["videocall.answer"])
        return config_objects(self.db, self.world.org_a, user)

    def _sms(self):
        from tests.sms.helpers import sms_objects

        return sms_objects(self.db, self.world.org_a)

    def _knowledge(self):
        from ketnoi.knowledge import schemas as KS
        from ketnoi.knowledge import service as kb
        from ketnoi.knowledge import signing

        org = self.world.org_a
        with self.db.session() as s:
            proc = kb.create_procedure(s, SYSTEM, KS.ProcedureIn(
                code="1.000894", title="Cấp lại giấy khai sinh", organization_id=org,
                answer=KS.AnswerIn(content="Nộp hồ sơ tại bộ phận một cửa")))
            event = kb.create_event(s, SYSTEM, KS.EventIn(title="Ngày hội việc làm", organization_id=org))
            key = signing.create_key(s, SYSTEM, "Cổng dịch vụ công", ["knowledge.read"], organization_id=org).key
            return {"procedure_id": proc.id, "answer_id": proc.answers[0].id, "event_id": event.id,
                    "key_id": key.key_id}


@pytest.fixture
def ids(world, database) -> RealObjects:
    return RealObjects(world, database)


PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def path_values(path: str, ids: RealObjects, *, warn: bool = True) -> dict[str, str]:
    """{parameter: real id} for the parameters of ``path`` that have a real object."""
    out = {}
    for m in PARAM.finditer(path):
        name = m.group(1)
        collection = path[:m.start()].rstrip("/").rsplit("/", 1)[-1]
        found = ids.get(f"{collection}.{name}") or ids.get(name)
        if found:
            out[name] = found
        elif warn:
            warnings.warn(f"no real object for {{{name}}} in {path}; add one to RealObjects "
                          "(a placeholder id is used meanwhile)", stacklevel=2)
    return out


def fill(path: str, ids: RealObjects | None) -> str:
    """The path with its parameters replaced by real ids (``ids=None``, or none known: a placeholder).
    Denials must not depend on the id: the permission is checked before anything is looked up."""
    values = path_values(path, ids) if ids is not None else {}
    return PARAM.sub(lambda m: values.get(m.group(1), "x1"), path)


def _call(client, route: RouteInfo, ids: RealObjects | None, **kw):
    if route.method in ("POST", "PUT", "PATCH") and route.kind == "api":
        kw.setdefault("json", {})
    return client.request(route.method, fill(route.path, ids), follow_redirects=False, **kw)


def _problem(r, status: int) -> dict:
    assert r.status_code == status, (r.request.method, r.request.url.path, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["detail"]
    return body


class People:
    """The matrix's org-A users, created on first use."""

    def __init__(self, world):
        self.world = world
        self.made: set[str] = set()

    def _user(self, name: str, roles: list[str]) -> str:
        if name not in self.made:
            self.world.user(name, roles=roles, allow_multiple_sessions=True)
            self.made.add(name)
        return name

    def denied(self, permission: str) -> str:
        """A user holding no role but 'home' — or nothing at all when the route needs 'home'."""
        return self._user("trong", []) if permission == "home" else self._user("khongquyen", ["home"])

    def holder(self, permission: str) -> str:
        """A user of A-ROOT holding exactly ``permission`` (and what it implies)."""
        return self._user("co." + permission, [permission])


@pytest.fixture
def people(world) -> People:
    return People(world)


def _api_login(client, username: str) -> dict[str, str]:
    ip_throttle.reset()  # many logins from one address within a minute
    return login(client, username)


def console_login(client, database, username: str) -> str:
    """Sign in through the console login form; returns the session's CSRF token for unsafe requests."""
    ip_throttle.reset()  # many logins from one address within a minute
    client.cookies.clear()
    r = client.get("/login")
    assert r.status_code == 200
    pre_csrf = client.cookies.get("ketnoi_csrf")
    assert pre_csrf
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": pre_csrf, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    assert client.cookies.get("ketnoi_session")
    with database.session() as s:
        return s.scalar(select(AuthSession.csrf_token).join(User, AuthSession.user_id == User.id)
                        .where(User.username == username, AuthSession.kind == "web", AuthSession.ended_at.is_(None))
                        .order_by(AuthSession.created_at.desc()).limit(1))


class ConsoleSessions:
    """One console login per user, switched by swapping the session cookie."""

    def __init__(self, client, database):
        self.client, self.database = client, database
        self.known: dict[str, tuple[str, str]] = {}

    def use(self, username: str) -> str:
        """Act as ``username``; returns the CSRF token of their session."""
        if username not in self.known:
            csrf = console_login(self.client, self.database, username)
            self.known[username] = (self.client.cookies.get("ketnoi_session"), csrf)
        cookie, csrf = self.known[username]
        self.client.cookies.clear()
        self.client.cookies.set("ketnoi_session", cookie)
        return csrf


# --- API ------------------------------------------------------------------------------------------
# Each test walks every route of its kind as a sub-test (one database for all of them): a failure
# names the route, and the whole matrix runs in seconds rather than one database per route.
def test_api_anonymous_gets_401(client, app, subtests):
    for route in api_routes(app):
        with subtests.test(msg=route.id):
            r = _call(client, route, None)
            _problem(r, 401)
            assert r.headers.get("www-authenticate") == "Bearer"


def test_api_user_without_permission_gets_403(client, app, people, ids, subtests):
    tokens = {}
    for route in api_routes(app):
        if not route.permission:
            continue
        with subtests.test(msg=route.id):
            who = people.denied(route.permission)
            if who not in tokens:
                tokens[who] = _api_login(client, who)
            body = _problem(_call(client, route, ids, headers=tokens[who]), 403)
            assert body["detail"] == API_DENIED


def test_api_holder_of_permission_is_let_in(client, app, people, ids, subtests):
    tokens = {}
    for route in api_routes(app):
        if route.method != "GET" or not route.permission:
            continue
        with subtests.test(msg=route.id):
            who = people.holder(route.permission)
            if who not in tokens:
                tokens[who] = _api_login(client, who)
            r = _call(client, route, ids, headers=tokens[who])
            assert r.status_code not in (401, 403) and r.status_code < 500, (r.status_code, r.text[:500])


def test_hub_websocket_requires_login(client, world):
    with client.websocket_connect("/api/v1/hub") as ws:
        assert ws.receive_json()["type"] == "hub.unauthenticated"
    world.user("anh", roles=["home"])
    token = login(client, "anh")["Authorization"].split()[1]
    with client.websocket_connect(f"/api/v1/hub?token={token}") as ws:
        assert ws.receive_json()["type"] == "hub.ready"


def test_console_anonymous_is_sent_to_login(client, app, subtests):
    for route in console_routes(app):
        with subtests.test(msg=route.id):
            r = _call(client, route, None)
            assert r.status_code == 303, (r.status_code, r.text[:300])
            loc = urlsplit(r.headers["location"])
            assert loc.path == "/login"
            assert parse_qs(loc.query)["next"] == [fill(route.path, None)]


def test_console_user_without_permission_gets_403(client, app, people, database, ids, subtests):
    sessions = ConsoleSessions(client, database)
    for route in console_routes(app):
        if not route.permission:
            continue
        with subtests.test(msg=route.id):
            csrf = sessions.use(people.denied(route.permission))
            r = _call(client, route, ids, headers={"X-CSRF-Token": csrf})
            assert r.status_code == 403, (r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("text/html")
            assert CONSOLE_DENIED in r.text


def test_console_holder_of_permission_is_let_in(client, app, people, database, ids, subtests):
    sessions = ConsoleSessions(client, database)
    for route in console_routes(app):
        if route.method != "GET":
            continue
        with subtests.test(msg=route.id):
            sessions.use(people.holder(route.permission or "home"))
            r = _call(client, route, ids)
            assert r.status_code not in (401, 403) and r.status_code < 500, (r.status_code, r.text[:300])
            assert not r.headers.get("location", "").startswith("/login")


# --- organizations never see each other -----------------------------------------------------------
ORG_READER = ["identity.users.read", "identity.departments.read", "identity.organizations.read",
              "identity.groups.read", "identity.roles.read", "audit.read", "outbox.read",
              "identity.sessions.manage", "scope.all_units"]


@pytest.fixture
def two_orgs(world, client, database, ids):
    """Org A has users, sessions, audit rows and a permission group of its own; org B has a reader."""
    with database.session() as s:
        a_only = create_group(s, SYSTEM, S.GroupIn(code="CHI-A", name="Chỉ tổ chức A", role_ids=[]))
        org_a = s.get(Organization, world.org_a)
        org_a.groups = list(org_a.groups) + [a_only]
        a_only = a_only.id
        for org in (world.org_a, world.org_b):
            enqueue_message(s, channel="sms", recipient="0912345678", body="Mã xác nhận", organization_id=org)
    a_user = world.user("nguoi-a", org="a", dept="A-CHILD", roles=["home"])
    login(client, "nguoi-a")
    b_user = world.user("nguoi-b", org="b", dept="B1", roles=["home"])
    world.user("docb", org="b", dept="B1", roles=ORG_READER)
    login(client, "nguoi-b")
    return {"a_only_group": a_only, "a_user": a_user, "b_user": b_user, "user_id": ids["user_id"],
            "session_id": ids["session_id"]}


@pytest.mark.parametrize("query", ["", "organization_id={org_a}", "department_id={dept_a}", "user_id={user_a}"])
def test_org_b_lists_hold_only_org_b_rows(client, world, database, two_orgs, query):
    headers = login(client, "docb")
    with database.session() as s:
        b_groups = {g.id for g in s.get(Organization, world.org_b).groups} - {two_orgs["a_only_group"]}
    b_users = {r["id"] for r in client.get("/api/v1/users?page_size=200", headers=headers).json()["items"]}
    assert two_orgs["b_user"] in b_users and two_orgs["a_user"] not in b_users
    of_b = {  # list → "this row belongs to org B"
        "/api/v1/users": lambda i: i["organization_id"] == world.org_b,
        "/api/v1/departments": lambda i: i["organization_id"] == world.org_b,
        "/api/v1/organizations": lambda i: i["id"] == world.org_b,
        "/api/v1/sessions": lambda i: i["user_id"] in b_users,
        "/api/v1/audit": lambda i: i["organization_id"] == world.org_b,
        "/api/v1/outbox": lambda i: i["organization_id"] == world.org_b,
        "/api/v1/permission-groups": lambda i: i["id"] in b_groups,
    }

    q = query.format(org_a=world.org_a, dept_a=world.dept["A-ROOT"], user_a=two_orgs["a_user"])
    for path, belongs_to_b in of_b.items():
        r = client.get(f"{path}?page_size=200&{q}", headers=headers)
        assert r.status_code == 200, (path, r.text)
        items = r.json()["items"]
        for item in items:
            assert belongs_to_b(item), f"{path}?{q}: {item}"
        if not q:
            assert items, f"{path}: org B sees nothing at all — the check above would be vacuous"


def test_org_b_cannot_reach_org_a_objects_by_id(client, world, two_orgs):
    headers = login(client, "docb")
    for path in (f"/api/v1/users/{two_orgs['a_user']}", f"/api/v1/users/{two_orgs['user_id']}",
                 f"/api/v1/departments/{world.dept['A-ROOT']}", f"/api/v1/departments/{world.dept['A-CHILD']}",
                 f"/api/v1/organizations/{world.org_a}", f"/api/v1/permission-groups/{two_orgs['a_only_group']}"):
        _problem(client.get(path, headers=headers), 404)
    # and the same objects are there for org A's own reader
    world.user("doca", org="a", dept="A-ROOT", roles=ORG_READER)
    a_headers = login(client, "doca")
    assert client.get(f"/api/v1/users/{two_orgs['a_user']}", headers=a_headers).status_code == 200
    assert client.get(f"/api/v1/organizations/{world.org_a}", headers=a_headers).status_code == 200


def test_org_b_writer_cannot_touch_org_a(client, world, two_orgs):
    world.user("quantrib", org="b", dept="B1", roles=[
        "identity.users.write", "identity.departments.write", "identity.organizations.write",
        "identity.sessions.manage", "scope.all_units"])
    h = login(client, "quantrib")
    a_user, a_dept, a_session = two_orgs["a_user"], world.dept["A-CHILD"], two_orgs["session_id"]
    for method, path, body in [
        ("PATCH", f"/api/v1/users/{a_user}", {"full_name": "Bị sửa"}),
        ("DELETE", f"/api/v1/users/{a_user}", None),
        ("POST", f"/api/v1/users/{a_user}/reset-password", {}),
        ("POST", f"/api/v1/users/{a_user}/unlock", None),
        ("PATCH", f"/api/v1/departments/{a_dept}", {"name": "Bị sửa"}),
        ("DELETE", f"/api/v1/departments/{a_dept}", None),
        ("PATCH", f"/api/v1/organizations/{world.org_a}", {"name": "Bị sửa"}),
        ("DELETE", f"/api/v1/sessions/{a_session}", None),
    ]:
        _problem(client.request(method, path, headers=h, json=body), 404)
    r = client.post("/api/v1/users", headers=h, json={
        "code": "XAM", "username": "xam-nhap", "full_name": "Xâm nhập", "password": "Mat-khau-2026!x",
        "organization_id": world.org_a})
    _problem(r, 403)
    r = client.post("/api/v1/departments", headers=h, json={"code": "XAM", "name": "Xâm nhập",
                                                           "parent_id": world.dept["A-ROOT"]})
    assert r.status_code == 422, r.text
    r = client.patch(f"/api/v1/users/{two_orgs['b_user']}", headers=h, json={"department_id": world.dept["A-ROOT"]})
    assert r.status_code == 422, r.text
    # nothing changed in org A
    a = login(client, "nguoi-a")
    me = client.get("/api/v1/auth/me", headers=a).json()
    assert me["full_name"] == "Người dùng nguoi-a" and me["department_id"] == world.dept["A-CHILD"]


# --- unit scope -----------------------------------------------------------------------------------
@pytest.fixture
def units(world, database, client):
    """A-ROOT > A-CHILD > A-GRAND, and A-OTHER; one user in each; a reader in A-CHILD without all-units."""
    with database.session() as s:
        grand = create_department(s, SYSTEM, S.DepartmentIn(code="A-GRAND", name="Tổ A1a",
                                                            organization_id=world.org_a,
                                                            parent_id=world.dept["A-CHILD"])).id
    world.dept["A-GRAND"] = grand
    people = {d: world.user(f"u-{d.lower()}", org="a", dept=d, roles=["home"])
              for d in ("A-ROOT", "A-CHILD", "A-GRAND", "A-OTHER")}
    for d in people:
        login(client, f"u-{d.lower()}")
    reader = world.user("doccon", org="a", dept="A-CHILD", roles=[
        "identity.users.read", "identity.departments.read", "identity.sessions.manage"])
    return {"people": people, "reader": reader, "inside": {people["A-CHILD"], people["A-GRAND"], reader}}


def test_unit_scope_limits_lists_to_the_subtree(client, world, units):
    h = login(client, "doccon")
    subtree = {world.dept["A-CHILD"], world.dept["A-GRAND"]}
    for q in ("", f"department_id={world.dept['A-ROOT']}", f"department_id={world.dept['A-OTHER']}"):
        seen = {u["id"]: u for u in client.get(f"/api/v1/users?page_size=200&{q}", headers=h).json()["items"]}
        assert set(seen) <= units["inside"], (q, [u["username"] for u in seen.values()])
        assert all(u["department_id"] in subtree for u in seen.values())
    seen = {u["id"] for u in client.get("/api/v1/users?page_size=200", headers=h).json()["items"]}
    assert seen == units["inside"]

    depts = {d["id"] for d in client.get("/api/v1/departments?page_size=200", headers=h).json()["items"]}
    assert depts == subtree
    for q in (f"parent_id={world.dept['A-ROOT']}", f"organization_id={world.org_a}"):
        depts = {d["id"] for d in client.get(f"/api/v1/departments?page_size=200&{q}", headers=h).json()["items"]}
        assert depts <= subtree, q

    sessions = client.get("/api/v1/sessions?page_size=200", headers=h).json()["items"]
    assert sessions and {s["user_id"] for s in sessions} <= units["inside"]


def test_unit_scope_hides_objects_outside_the_subtree(client, world, units):
    h = login(client, "doccon")
    for d in ("A-ROOT", "A-OTHER"):
        _problem(client.get(f"/api/v1/users/{units['people'][d]}", headers=h), 404)
        _problem(client.get(f"/api/v1/departments/{world.dept[d]}", headers=h), 404)
    for d in ("A-CHILD", "A-GRAND"):
        assert client.get(f"/api/v1/users/{units['people'][d]}", headers=h).status_code == 200
        assert client.get(f"/api/v1/departments/{world.dept[d]}", headers=h).status_code == 200


def test_unit_scope_limits_session_revocation(client, world, database, units):
    h = login(client, "doccon")
    with database.session() as s:
        outside = s.scalar(select(AuthSession.id).where(AuthSession.user_id == units["people"]["A-ROOT"],
                                                        AuthSession.ended_at.is_(None)))
        inside = s.scalar(select(AuthSession.id).where(AuthSession.user_id == units["people"]["A-GRAND"],
                                                       AuthSession.ended_at.is_(None)))
    _problem(client.delete(f"/api/v1/sessions/{outside}", headers=h), 404)
    assert client.delete(f"/api/v1/sessions/{inside}", headers=h).status_code == 204


def test_org_b_console_pages_do_not_open_org_a_objects(client, world, database, two_orgs):
    world.user("quantrib", org="b", dept="B1", roles=[
        "identity.users.write", "identity.departments.write", "identity.organizations.write",
        "identity.groups.write", "identity.sessions.manage", "audit.read", "scope.all_units"])
    csrf = console_login(client, database, "quantrib")
    with database.session() as s:
        a_entry = s.scalar(select(AuditEntry.id).where(AuditEntry.organization_id == world.org_a))
    for path in (f"/admin/users/{two_orgs['a_user']}", f"/admin/departments/{world.dept['A-ROOT']}",
                 f"/admin/organizations/{world.org_a}", f"/admin/groups/{two_orgs['a_only_group']}",
                 f"/admin/audit/{a_entry}"):
        r = client.get(path)
        assert r.status_code == 404, (path, r.status_code)
    r = client.post(f"/admin/sessions/{two_orgs['session_id']}/revoke", headers={"X-CSRF-Token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    assert parse_qs(urlsplit(r.headers["location"]).query)["msg"][0].startswith("Không xóa được")
    with database.session() as s:
        assert s.get(AuthSession, two_orgs["session_id"]).ended_at is None


REPORTS_READER = ["reports.read", "reports.rules", "reports.sla", "catalog.categories.read", "catalog.areas.read",
                  "scope.all_units"]


def test_org_b_sees_no_org_a_reports_rules_or_categories(client, world, ids):
    report, code, category = ids["report_id"], ids["code"], ids["category_id"]
    rule, sla, holiday = ids["dispatch-rules.rule_id"], ids["sla-rules.rule_id"], ids["holiday_id"]
    world.user("baocaob", org="b", dept="B1", roles=REPORTS_READER)
    h = login(client, "baocaob")
    for path in ("/api/v1/reports", f"/api/v1/reports?category_id={category}", "/api/v1/dispatch-rules",
                 "/api/v1/sla-rules", f"/api/v1/sla-rules?category_id={category}", "/api/v1/categories",
                 f"/api/v1/categories?organization_id={world.org_a}"):
        r = client.get(path, headers=h)
        assert r.status_code == 200, (path, r.text)
        assert all(i["organization_id"] == world.org_b for i in r.json()["items"]), path
    holidays = client.get("/api/v1/holidays", headers=h).json()
    assert holidays and all(d["organization_id"] in (None, world.org_b) for d in holidays)
    for path in (f"/api/v1/reports/{report}", f"/api/v1/reports/by-code/{code}", f"/api/v1/reports/{report}/progress",
                 f"/api/v1/reports/{report}/attachments/{ids['attachment_id']}", f"/api/v1/dispatch-rules/{rule}",
                 f"/api/v1/categories/{category}"):
        _problem(client.get(path, headers=h), 404)
    for method, path, body in [("PATCH", f"/api/v1/dispatch-rules/{rule}", {"name": "Bị sửa"}),
                               ("PATCH", f"/api/v1/sla-rules/{sla}", {"hours": 1}),
                               ("DELETE", f"/api/v1/sla-rules/{sla}", None),
                               ("DELETE", f"/api/v1/holidays/{holiday}", None),
                               ("POST", f"/api/v1/reports/{report}/transitions", {"action": "dispatch"})]:
        _problem(client.request(method, path, headers=h, json=body), 404)
