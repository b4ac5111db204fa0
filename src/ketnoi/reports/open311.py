"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2), JSON only, under /open311/v2.

* ``jurisdiction_id`` is an organization's code. It may be left out when the platform serves one
  organization, or when the ``open311_jurisdiction`` setting names the default one.
* Services are the organization's active categories: ``service_code`` = the category code,
  ``group`` = the parent category's name.
* Reading services and requests is public and shows no personal data of citizens: no name,
  phone, e-mail, address or text of the report; ``address`` is the administrative area's name.
  Spam is never published.
* ``POST /requests.json`` (form-encoded, as the specification says) creates a report on channel
  ``web``. Its ``api_key`` is a bearer token of a user holding ``reports.create``, obtained with
  ``POST /api/v1/auth/login``; an ``Authorization: Bearer`` header works too. The report belongs
  to that user's organization. An ``Idempotency-Key`` header (core/idempotency.py) makes a retry
  answer the first request's ids instead of filing the report twice.
* Errors are RFC 9457 problems in Vietnamese, like the rest of the API; ``.xml`` answers 400.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.catalog.models import Area, Category
from ketnoi.core import idempotency
from ketnoi.core.errors import DomainError, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from ketnoi.core.idempotency import idempotency_doc
from ketnoi.db.base import utcnow
from ketnoi.identity.auth import authenticate
from ketnoi.identity.models import Department, Organization
from ketnoi.identity.principal import Principal
from ketnoi.reports import schemas as S
from ketnoi.reports.api import idempotency_scope
from ketnoi.reports.export import aware
from ketnoi.reports.models import Report
from ketnoi.reports.public import PUBLIC_STATUS
from ketnoi.reports.service import create_report
from ketnoi.reports.workflow import Status
from ketnoi.settings import get_settings
from ketnoi.web.deps import DbDep, client_ip
from ketnoi.web.problems import problem, validation_errors
from ketnoi.web.schemas import PROBLEMS

CLOSED = {Status.CLOSED.value}
HIDDEN = [Status.SPAM.value, Status.SPAM_CONFIRMED.value]  # never published
MAX_RESULTS = 1000
DEFAULT_DAYS = 90
XML_REFUSED = "Định dạng XML chưa được hỗ trợ; hãy dùng đuôi .json (ví dụ /open311/v2/services.json)."
# our field names → the specification's, for error messages
FIELD_NAMES = {"citizen_phone": "phone", "citizen_email": "email", "category_id": "service_code",
               "latitude": "lat", "longitude": "long", "citizen_name": "first_name", "content": "description",
               "citizen_address": "address_string", "organization_id": "jurisdiction_id"}


class Open311Route(APIRoute):
    """These paths are outside /api/, where the app would answer errors with HTML pages: every
    error here is a problem+json, and bad input is a 400 as GeoReport v2 expects."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request):
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = [{**e, "field": FIELD_NAMES.get(e["field"], e["field"])}
                          for e in validation_errors(list(exc.errors()))]
                return problem(400, "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]), errors)
            except DomainError as exc:
                status = exc.status if isinstance(exc, idempotency.KeyReused) else \
                    400 if isinstance(exc, ValidationFailed) else exc.status
                errors = [{**e, "field": FIELD_NAMES.get(e["field"], e["field"])} for e in exc.errors]
                headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
                return problem(status, exc.detail, errors, "" if status != exc.status else exc.title, headers)

        return route


router = APIRouter(prefix="/open311/v2", route_class=Open311Route, responses=PROBLEMS, tags=["open311"])


class ServiceOut(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = False
    type: str = "realtime"
    keywords: str = ""
    group: str


class ServiceDefinitionOut(BaseModel):
    service_code: str
    attributes: list[dict] = []


class RequestOut(BaseModel):
    service_request_id: str
    status: str  # open | closed
    status_notes: str
    service_name: str
    service_code: str
    agency_responsible: str
    service_notice: str = ""
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None
    long: float | None
    media_url: str | None = None


class CreatedOut(BaseModel):
    service_request_id: str
    service_notice: str
    account_id: str | None = None


# --- helpers ------------------------------------------------------------------------------------
def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(_tz()).isoformat(timespec="seconds") if dt else None


def organization(db: Session, jurisdiction_id: str) -> Organization:
    """The organization a request is about: by code, else the configured default, else the only one."""
    code = (jurisdiction_id or getattr(get_settings(), "open311_jurisdiction", "") or "").strip()
    if code:
        org = db.scalar(select(Organization).where(Organization.code == code, Organization.is_active.is_(True)))
        if org is None:
            raise NotFound("Không có tổ chức với mã jurisdiction_id này.")
        return org
    orgs = db.scalars(select(Organization).where(Organization.is_active.is_(True)).limit(2)).all()
    if len(orgs) != 1:
        raise ValidationFailed.field("jurisdiction_id", "Cần jurisdiction_id (mã tổ chức) vì hệ thống phục vụ "
                                                        "nhiều tổ chức.")
    return orgs[0]


def _codes(value: str, field: str, limit: int = 100) -> list[str]:
    codes = [c.strip() for c in value.split(",") if c.strip()]
    if len(codes) > limit:
        raise ValidationFailed.field(field, f"Tối đa {limit} giá trị.")
    return codes


class _Lookup:
    """Names of categories, units and areas for a page of requests, loaded once each."""

    def __init__(self, db: Session):
        self.db = db
        self.categories: dict[str, Category | None] = {}
        self.units: dict[str, str] = {}
        self.areas: dict[str, str] = {}

    def category(self, cid: str | None) -> Category | None:
        if not cid:
            return None
        if cid not in self.categories:
            self.categories[cid] = self.db.get(Category, cid)
        return self.categories[cid]

    def unit(self, uid: str | None) -> str:
        if not uid:
            return ""
        if uid not in self.units:
            d = self.db.get(Department, uid)
            self.units[uid] = d.name if d else ""
        return self.units[uid]

    def area(self, aid: str | None) -> str:
        """'Phường Hải Châu, Thành phố Đà Nẵng': the area and its parents, never a street address."""
        if not aid:
            return ""
        if aid not in self.areas:
            a = self.db.get(Area, aid)
            names = []
            if a is not None:
                ids = [i for i in a.path.strip("/").split("/") if i] or [a.id]
                by_id = {x.id: x.name for x in self.db.scalars(select(Area).where(Area.id.in_(ids)))}
                names = [by_id[i] for i in reversed(ids) if i in by_id] or [a.name]
            self.areas[aid] = ", ".join(names)
        return self.areas[aid]


def request_out(r: Report, look: _Lookup) -> RequestOut:
    cat = look.category(r.category_id)
    return RequestOut(
        service_request_id=r.code, status="closed" if r.status in CLOSED else "open",
        status_notes=PUBLIC_STATUS[Status(r.status)], service_name=cat.name if cat else "",
        service_code=cat.code if cat else "", agency_responsible=look.unit(r.unit_id),
        requested_datetime=_iso(r.received_at), updated_datetime=_iso(r.updated_at),
        expected_datetime=_iso(r.due_at), address=look.area(r.area_id), lat=r.latitude, long=r.longitude)


def _public(org: Organization):
    return select(Report).where(Report.organization_id == org.id, Report.deleted_at.is_(None),
                                Report.status.not_in(HIDDEN))


def _xml() -> None:
    raise DomainError(XML_REFUSED)


Jurisdiction = Annotated[str, Query(max_length=50, description="Mã tổ chức")]


# --- services -----------------------------------------------------------------------------------
@router.get("/services.json", response_model=list[ServiceOut], summary="Open311: danh sách dịch vụ (lĩnh vực)")
def services(db: DbDep, jurisdiction_id: Jurisdiction = ""):
    org = organization(db, jurisdiction_id)
    cats = db.scalars(select(Category).where(Category.organization_id == org.id, Category.is_active.is_(True))
                      .order_by(Category.sort_order, Category.code)).all()
    names = {c.id: c.name for c in cats}
    return [ServiceOut(service_code=c.code, service_name=c.name, description=c.description,
                       group=names.get(c.parent_id, "") if c.parent_id else "") for c in cats]


@router.get("/services/{service_code}.json", response_model=ServiceDefinitionOut,
            summary="Open311: định nghĩa một dịch vụ")
def service_definition(service_code: str, db: DbDep, jurisdiction_id: Jurisdiction = ""):
    org = organization(db, jurisdiction_id)
    c = db.scalar(select(Category).where(Category.organization_id == org.id, Category.code == service_code[:50],
                                         Category.is_active.is_(True)))
    if c is None:
        raise NotFound("Không có dịch vụ với mã này.")
    return ServiceDefinitionOut(service_code=c.code)


# --- requests -----------------------------------------------------------------------------------
@router.get("/requests.json", response_model=list[RequestOut], summary="Open311: tra cứu các yêu cầu (phản ánh)")
def list_requests(db: DbDep, jurisdiction_id: Jurisdiction = "",
                  service_request_id: Annotated[str, Query(max_length=2500)] = "",
                  service_code: Annotated[str, Query(max_length=2500)] = "",
                  start_date: datetime | None = None, end_date: datetime | None = None,
                  status: Annotated[str, Query(max_length=20, description="open, closed hoặc open,closed")] = ""):
    org = organization(db, jurisdiction_id)
    stmt = _public(org)
    ids = _codes(service_request_id, "service_request_id")
    if ids:  # the specification: ids override every other parameter
        stmt = stmt.where(Report.code.in_([i.upper() for i in ids]))
    else:
        states = _codes(status, "status")
        if any(s not in ("open", "closed") for s in states):
            raise ValidationFailed.field("status", "Trạng thái chỉ nhận open hoặc closed.")
        if set(states) == {"open"}:
            stmt = stmt.where(Report.status.not_in(CLOSED))
        elif set(states) == {"closed"}:
            stmt = stmt.where(Report.status.in_(CLOSED))
        codes = _codes(service_code, "service_code")
        if codes:
            cats = select(Category.id).where(Category.organization_id == org.id, Category.code.in_(codes))
            stmt = stmt.where(Report.category_id.in_(cats))
        start, end = aware(start_date, "start_date"), aware(end_date, "end_date")
        if start and end and start > end:
            raise ValidationFailed.field("start_date", "start_date phải trước end_date.")
        if start is None and end is None:
            start = utcnow() - timedelta(days=DEFAULT_DAYS)
        if start:
            stmt = stmt.where(Report.received_at >= start)
        if end:
            stmt = stmt.where(Report.received_at <= end)
    look = _Lookup(db)
    rows = db.scalars(stmt.order_by(Report.received_at.desc()).limit(MAX_RESULTS)).all()
    return [request_out(r, look) for r in rows]


@router.get("/requests/{service_request_id}.json", response_model=list[RequestOut],
            summary="Open311: một yêu cầu (phản ánh) theo mã")
def get_request(service_request_id: str, db: DbDep, jurisdiction_id: Jurisdiction = ""):
    org = organization(db, jurisdiction_id)
    r = db.scalar(_public(org).where(Report.code == service_request_id[:20].upper()))
    if r is None:
        raise NotFound("Không tìm thấy yêu cầu với mã này.")
    return [request_out(r, _Lookup(db))]


def api_key_principal(db: Session, request: Request, api_key: str) -> Principal:
    auth = request.headers.get("authorization", "")
    token = api_key or (auth[7:].strip() if auth[:7].lower() == "bearer " else "")
    if not token:
        raise NotAuthenticated("Thiếu api_key (bearer token của tài khoản có quyền tạo phản ánh).")
    p = authenticate(db, token, ip=client_ip(request)).principal
    if p.must_change_password:
        raise Forbidden("Tài khoản của api_key cần đổi mật khẩu trước khi tiếp tục.")
    if not p.has("reports.create"):
        raise Forbidden("Tài khoản của api_key không có quyền tạo phản ánh (reports.create).")
    return p


@router.post("/requests.json", response_model=list[CreatedOut], status_code=201,
             summary="Open311: gửi yêu cầu (tạo phản ánh, kênh web); cần api_key", openapi_extra=idempotency_doc())
def create_request(
    request: Request, db: DbDep,
    service_code: Annotated[str, Form(min_length=1, max_length=50)],
    api_key: Annotated[str, Form(max_length=200, description="Bearer token của tài khoản có quyền "
                                                             "reports.create")] = "",
    jurisdiction_id: Annotated[str, Form(max_length=50)] = "",
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    long: Annotated[float | None, Form(ge=-180, le=180)] = None,
    address_string: Annotated[str, Form(max_length=500)] = "",
    address_id: Annotated[str, Form(max_length=100)] = "",
    description: Annotated[str, Form(max_length=4000)] = "",
    first_name: Annotated[str, Form(max_length=100)] = "",
    last_name: Annotated[str, Form(max_length=100)] = "",
    phone: Annotated[str, Form(max_length=20)] = "",
    email: Annotated[str, Form(max_length=200)] = "",
    device_id: Annotated[str, Form(max_length=200)] = "",
    account_id: Annotated[str, Form(max_length=200)] = "",
    media_url: Annotated[str, Form(max_length=2000)] = "",
):
    """``media_url``, ``device_id``, ``account_id`` and ``attribute[]`` are accepted and ignored. An
    optional ``Idempotency-Key`` header: the same key and fields (``api_key`` aside) within 24 hours
    answer the first request again (``Idempotent-Replayed: true``); other fields → 422; still running → 409."""
    p = api_key_principal(db, request, api_key)
    fields = {"jurisdiction_id": jurisdiction_id, "service_code": service_code, "lat": lat, "long": long,
              "address_string": address_string, "address_id": address_id, "description": description,
              "first_name": first_name, "last_name": last_name, "phone": phone, "email": email,
              "device_id": device_id, "account_id": account_id, "media_url": media_url}
    return idempotency.run(request, db, idempotency_scope(p), fields, lambda: _create(db, p, **fields),
                           status_code=201)


def _create(db: Session, p: Principal, *, jurisdiction_id: str, service_code: str, lat: float | None,
            long: float | None, address_string: str, address_id: str, description: str, first_name: str,
            last_name: str, phone: str, email: str, **_ignored: str) -> list[CreatedOut]:
    if p.is_sysadmin:
        org = organization(db, jurisdiction_id)
    else:
        org = db.get(Organization, p.organization_id)
        if org is None or (jurisdiction_id and jurisdiction_id.strip() != org.code):
            raise ValidationFailed.field("jurisdiction_id", "jurisdiction_id không khớp với tổ chức của api_key.")
    if (lat is None) != (long is None):
        raise ValidationFailed.field("long" if long is None else "lat", "Cần gửi cả lat và long.")
    if lat is None and not address_string.strip() and not address_id.strip():
        raise ValidationFailed.field("lat", "Cần vị trí: lat và long, hoặc address_string.")
    cat = db.scalar(select(Category).where(Category.organization_id == org.id, Category.code == service_code.strip(),
                                           Category.is_active.is_(True)))
    if cat is None:
        raise ValidationFailed.field("service_code", "Mã dịch vụ không tồn tại.")
    text = description.strip()
    place = address_string.strip() or address_id.strip()
    title = f"{cat.name}: {text}" if text else f"{cat.name}{' tại ' + place if place else ''}"
    if len(title) > 120:
        title = title[:119].rstrip() + "…"
    try:
        data = S.ReportIn(title=title, content=text or title, channel=S.Channel.WEB,
                          citizen_name=f"{last_name.strip()} {first_name.strip()}".strip()[:200],
                          citizen_phone=phone, citizen_email=email.strip(), citizen_address=place,
                          category_id=cat.id, latitude=lat, longitude=long, organization_id=org.id)
    except ValidationError as exc:
        errors = validation_errors(list(exc.errors()))
        raise ValidationFailed(errors[0]["message"], errors)
    r = create_report(db, p, data)
    return [CreatedOut(service_request_id=r.code,
                       service_notice=f"Đã tiếp nhận phản ánh {r.code}. Dùng mã này để tra cứu tiến độ.")]


# --- XML and unknown paths ------------------------------------------------------------------------
@router.get("/services.xml", summary="Open311 XML: chưa hỗ trợ (400)", response_model=None)
def services_xml():
    _xml()


@router.get("/services/{service_code}.xml", summary="Open311 XML: chưa hỗ trợ (400)", response_model=None)
def service_definition_xml(service_code: str):
    _xml()


@router.get("/requests.xml", summary="Open311 XML: chưa hỗ trợ (400)", response_model=None)
def list_requests_xml():
    _xml()


@router.post("/requests.xml", summary="Open311 XML: chưa hỗ trợ (400)", response_model=None)
def create_request_xml():
    _xml()


@router.get("/requests/{service_request_id}.xml", summary="Open311 XML: chưa hỗ trợ (400)", response_model=None)
def get_request_xml(service_request_id: str):
    _xml()


@router.get("/{rest:path}", include_in_schema=False)
def unknown(rest: str):
    raise NotFound("Không có tài nguyên Open311 này. Các tài nguyên: services.json, services/{mã}.json, "
                   "requests.json, requests/{mã}.json.")


# Reading is public (GeoReport v2); the POST checks its api_key itself, since an Open311 client
# sends the key as a form field rather than the Authorization header (see the module docstring).
for _fn in (services, service_definition, list_requests, get_request, create_request, services_xml,
            service_definition_xml, list_requests_xml, create_request_xml, get_request_xml, unknown):
    _fn.ketnoi_public = True  # type: ignore[attr-defined]
