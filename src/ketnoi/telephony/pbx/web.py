"""Console pages of the PBX under /telephony: general settings (CC-05) and Apply, extensions with a
simple and an advanced form (CC-06), SIP trunks (CC-09) and PIN sets (CC-14). Routes, sounds and
call records are in web_routes.py and web_media.py, mounted on the same router."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from pydantic import ValidationError

from ketnoi.core.errors import DomainError
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import extensions, routes, service, web_media, web_routes
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx.web_common import (
    CODEC_CHOICES,
    YES_NO,
    codecs_in,
    done,
    form,
    lines,
    list_page,
    org_options,
    org_scope,
    page,
    with_org,
)
from ketnoi.telephony.pbx.web_objects import (
    ObjectPages,
    add_object_pages,
    delete_button,
    row_actions,
    save_or_form,
)
from ketnoi.web.crud import (
    Column,
    Field,
    Filter,
    Row,
    bool_filter,
    field_errors,
    form_data,
    list_params,
)
from ketnoi.web.deps import DbDep, console

router = APIRouter(prefix="/telephony")
COLLECTION_URLS = {"extensions": "/telephony/extensions/", "trunks": "/telephony/trunks/",
                   "inbound_routes": "/telephony/inbound-routes/", "outbound_routes": "/telephony/outbound-routes/",
                   "settings": "/telephony/settings"}


def _enabled(v: bool) -> str:
    return "Đang bật" if v else "Đang tắt"


def _this_url(request: Request) -> str:
    return str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")


# --- general settings and apply -----------------------------------------------------------------
SETTINGS_FIELDS = [
    Field("sip_udp_port", "Cổng SIP UDP", "number", required=True, help="Mặc định 5060."),
    Field("sip_tcp_port", "Cổng SIP TCP", "number", required=True),
    Field("rtp_port_min", "Cổng RTP đầu", "number", required=True),
    Field("rtp_port_max", "Cổng RTP cuối", "number", required=True, help="Mỗi cuộc gọi dùng 2 cổng cho mỗi bên."),
    Field("codecs", "Codec theo thứ tự ưu tiên", "select", required=True, options=CODEC_CHOICES),
    Field("public_address", "Địa chỉ công cộng (NAT)", maxlength=255,
          help="Địa chỉ IP hoặc tên miền mà điện thoại, nhà mạng nhìn thấy khi máy chủ ở sau NAT; để trống nếu không."),
    Field("local_networks", "Mạng nội bộ (không qua NAT)", "textarea",
          help="Mỗi dòng một dải CIDR, ví dụ 192.168.1.0/24."),
    Field("sip_realm", "Realm xác thực SIP", required=True, maxlength=100,
          help="Đổi realm thì mật khẩu của mọi máy nhánh được tính lại."),
    Field("recording_enabled", "Ghi âm cuộc gọi mặc định", "checkbox"),
    Field("recording_mode", "Kiểu ghi âm", "select", required=True,
          options=[("stereo", "Stereo: mỗi bên một kênh"), ("mixed", "Trộn chung một kênh")]),
    Field("prompt_language", "Ngôn ngữ lời nhắc", "select", required=True,
          options=[("vi", "Tiếng Việt"), ("en", "Tiếng Anh")]),
]


def _settings_values(row) -> dict:
    return {f.name: getattr(row, f.name) for f in SETTINGS_FIELDS} | {
        "codecs": ",".join(row.codecs or []), "local_networks": "\n".join(row.local_networks or [])}


@router.get("/settings")
def settings_page(request: Request, db: DbDep, p: Principal = console("telephony.settings.read")):
    org_id = org_scope(request, db, p)
    if not org_id:
        return done("/", "Chưa có tổ chức nào.", error=True)
    row = service.get_settings_row(db, org_id)
    readonly = not p.has("telephony.settings.write")
    fields = [Field(**{**f.__dict__, "readonly": readonly}) for f in SETTINGS_FIELDS]
    return form(request, db, p, org_id, "Cài đặt chung tổng đài", fields, _settings_values(row),
                with_org("/telephony/settings", p, org_id), "/telephony/calls",
                notice="Bạn chỉ có quyền xem." if readonly else "")


@router.post("/settings")
async def settings_save(request: Request, db: DbDep, p: Principal = console("telephony.settings.write")):
    org_id = org_scope(request, db, p)
    data = await form_data(request, SETTINGS_FIELDS)
    values = dict(data)
    data["codecs"] = codecs_in(data["codecs"])
    data["local_networks"] = lines(data["local_networks"])
    try:
        service.update_settings(db, p, org_id, S.SettingsPatch.model_validate(data))
    except (ValidationError, DomainError) as e:
        errors, msg = field_errors(e)
        db.rollback()
        return form(request, db, p, org_id, "Cài đặt chung tổng đài", SETTINGS_FIELDS, values,
                    with_org("/telephony/settings", p, org_id), "/telephony/calls", errors, msg, 422)
    return done(with_org("/telephony/settings", p, org_id), "Đã lưu cài đặt chung; bấm Áp dụng để đưa vào tổng đài.")


def _error_links(errors: list[dict]) -> list[dict]:
    out = []
    for e in errors:
        collection, _, obj = e["field"].partition(".")
        base = COLLECTION_URLS.get(collection)
        url = (base if collection == "settings" else base + obj) if base and obj else ""
        out.append({"message": e["message"], "url": url})
    return out


def _safe_next(value: str) -> str:
    parts = urlsplit(value or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/telephony"):
        return "/telephony/apply"
    return value


@router.get("/apply")
def apply_page(request: Request, db: DbDep, p: Principal = console("telephony.settings.read")):
    org_id = org_scope(request, db, p)
    if not org_id:
        return done("/", "Chưa có tổ chức nào.", error=True)
    errors = service.check(db, org_id)
    return page(request, db, p, "pbx_apply.html", org_id, title="Áp dụng cấu hình tổng đài",
                errors=_error_links(errors), checked=True,
                headline=f"Cấu hình có {len(errors)} lỗi cần sửa trước khi áp dụng:")


@router.post("/apply")
def apply_action(request: Request, db: DbDep, p: Principal = console("telephony.apply")):
    org_id = org_scope(request, db, p)
    back = _safe_next(request.query_params.get("next", ""))
    try:
        st = service.apply(db, p, org_id)
    except service.ApplyRefused as e:
        db.rollback()
        return page(request, db, p, "pbx_apply.html", org_id, status=422, title="Áp dụng cấu hình tổng đài",
                    errors=_error_links(e.errors), checked=True, headline=e.detail)
    except DomainError as e:
        db.rollback()
        return done(back, e.detail, error=True)
    return done(back, f"Đã áp dụng cấu hình tổng đài (phiên bản {st.applied_revision}).")


# --- extensions ---------------------------------------------------------------------------------
def _extension_fields(p: Principal, new: bool, advanced: bool, db=None) -> list[Field]:
    fields = [Field("organization_id", "Tổ chức", "select", required=True, options=org_options(db))] \
        if new and p.is_sysadmin else []
    fields += [Field("number", "Số máy nhánh", required=True, maxlength=10, help="2–10 chữ số, ví dụ 1001."),
               Field("display_name", "Tên hiển thị", maxlength=200),
               Field("secret", "Mật khẩu SIP", "password", required=new, maxlength=64,
                     help="Ít nhất 8 ký tự." + ("" if new else " Để trống nếu giữ mật khẩu cũ.")),
               Field("enabled", "Đang bật", "checkbox", default=True)]
    if advanced:
        fields += [Field("caller_id_name", "Tên người gọi hiển thị", maxlength=100),
                   Field("caller_id_number", "Số hiển thị khi gọi ra", "tel", maxlength=32),
                   Field("codecs", "Codec", "select", options=CODEC_CHOICES,
                         help="Để trống: theo cài đặt chung."),
                   Field("recording", "Ghi âm", "select", required=True,
                         options=[("default", "Theo cài đặt chung"), ("on", "Luôn ghi âm"), ("off", "Không ghi âm")]),
                   Field("max_contacts", "Số thiết bị đăng ký tối đa", "number", required=True, default=3),
                   Field("permit", "Chỉ cho đăng ký từ", "textarea", help="Mỗi dòng một IP/dải CIDR; trống = mọi nơi.")]
    return fields


def _extension_input(data: dict, advanced: bool) -> dict:
    out = dict(data)
    if not out.get("secret"):
        out.pop("secret", None)
    if advanced:
        out["codecs"] = codecs_in(out.get("codecs"))
        out["permit"] = lines(out.get("permit"))
    return out


def _mode_links(base: str, advanced: bool) -> list[dict]:
    return [{"label": "Biểu mẫu đơn giản", "url": base, "active": not advanced},
            {"label": "Biểu mẫu nâng cao", "url": base + ("&" if "?" in base else "?") + "mode=advanced",
             "active": advanced}]


@router.get("/extensions")
def extension_list(request: Request, db: DbDep, p: Principal = console("telephony.extensions.read")):
    params = list_params(request)
    qp = request.query_params
    org_id = org_scope(request, db, p)
    pg = extensions.list_extensions(db, p, params, organization_id=org_id, enabled=bool_filter(qp.get("enabled")))
    can_write = p.has("telephony.extensions.write")
    rows = [Row([e.number, e.display_name, e.caller_id_number, ", ".join(e.codecs) or "Theo cài đặt chung",
                 {"default": "Theo cài đặt chung", "on": "Có", "off": "Không"}[e.recording], _enabled(e.enabled)],
                url=f"/telephony/extensions/{e.id}" if can_write else "",
                actions=row_actions(f"/telephony/extensions/{e.id}", f"Xóa máy nhánh {e.number}? Điện thoại đang "
                                    "đăng ký sẽ bị ngắt sau khi áp dụng.") if can_write else []) for e in pg.items]
    return list_page(request, db, p, org_id, "Máy nhánh", pg, rows,
                     [Column("Số máy", "number"), Column("Tên hiển thị", "display_name"),
                      Column("Số hiển thị gọi ra"), Column("Codec"), Column("Ghi âm"),
                      Column("Trạng thái", "enabled")],
                     params.sort or "number", with_org("/telephony/extensions/new", p, org_id), can_write,
                     "Số máy hoặc tên…", [Filter("enabled", "Trạng thái", YES_NO)])


def _ext_values(e) -> dict:
    return {"number": e.number, "display_name": e.display_name, "enabled": e.enabled,
            "caller_id_name": e.caller_id_name, "caller_id_number": e.caller_id_number,
            "codecs": ",".join(e.codecs or []), "recording": e.recording, "max_contacts": e.max_contacts,
            "permit": "\n".join(e.permit or [])}


@router.get("/extensions/new")
def extension_new(request: Request, db: DbDep, p: Principal = console("telephony.extensions.write")):
    org_id = org_scope(request, db, p)
    advanced = request.query_params.get("mode") == "advanced"
    url = with_org("/telephony/extensions/new", p, org_id)
    return form(request, db, p, org_id, "Thêm máy nhánh", _extension_fields(p, True, advanced, db),
                {"enabled": True, "recording": "default", "max_contacts": 3, "organization_id": org_id},
                url + ("&" if "?" in url else "?") + ("mode=advanced" if advanced else "mode=simple"),
                "/telephony/extensions", mode_links=_mode_links(url, advanced))


async def _save_extension(request: Request, db, p: Principal, e=None):
    org_id = e.organization_id if e else org_scope(request, db, p)
    advanced = request.query_params.get("mode") == "advanced"
    fields = _extension_fields(p, e is None, advanced, db)
    data = await form_data(request, fields)

    def save():
        payload = _extension_input(data, advanced)
        return extensions.create_extension(db, p, S.ExtensionIn.model_validate(payload)) if e is None \
            else extensions.update_extension(db, p, e.id, S.ExtensionPatch.model_validate(payload))

    return save_or_form(request, db, p, save, org_id=org_id, fields=fields, values=data, hide=("secret",),
                        title="Thêm máy nhánh" if e is None else f"Sửa máy nhánh {e.number}",
                        action=_this_url(request), list_url="/telephony/extensions",
                        saved=lambda x: f"Đã lưu máy nhánh {x.number}; bấm Áp dụng để đưa vào tổng đài.",
                        mode_links=_mode_links(str(request.url.path), advanced))


@router.get("/extensions/{extension_id}")
def extension_edit(extension_id: str, request: Request, db: DbDep,
                   p: Principal = console("telephony.extensions.write")):
    e = extensions.get_extension(db, p, extension_id)
    advanced = request.query_params.get("mode") == "advanced"
    base = f"/telephony/extensions/{e.id}"
    return form(request, db, p, e.organization_id, f"Sửa máy nhánh {e.number}", _extension_fields(p, False, advanced),
                _ext_values(e), base + ("?mode=advanced" if advanced else "?mode=simple"), "/telephony/extensions",
                mode_links=_mode_links(base, advanced),
                extras=[delete_button("Xóa máy nhánh", base, f"Xóa máy nhánh {e.number}?")])


add_object_pages(router, ObjectPages("/extensions", "extension_id", "telephony.extensions.write",
                                     extensions.get_extension, _save_extension, extensions.delete_extension,
                                     lambda e: f"Đã xóa máy nhánh {e.number}."), "extension")


# --- trunks -------------------------------------------------------------------------------------
def _trunk_fields(db, p: Principal, new: bool) -> list[Field]:
    fields = [Field("organization_id", "Tổ chức", "select", required=True, options=org_options(db))] \
        if new and p.is_sysadmin else []
    return fields + [
        Field("name", "Tên trunk", required=True, maxlength=100),
        Field("kind", "Kiểu", "select", required=True, options=[
            ("register", "Đăng ký tới nhà cung cấp (tài khoản, mật khẩu)"), ("peer", "Xác thực theo địa chỉ IP")]),
        Field("host", "Địa chỉ nhà cung cấp", maxlength=255, help="Tên miền hoặc IP; trunk IP cần để gọi ra."),
        Field("port", "Cổng", "number", default=5060),
        Field("transport", "Giao thức", "select", required=True, options=[("udp", "UDP"), ("tcp", "TCP")]),
        Field("username", "Tên đăng nhập", maxlength=100),
        Field("password", "Mật khẩu", "password", maxlength=128,
              help="" if new else "Để trống nếu giữ mật khẩu cũ."),
        Field("realm", "Realm", maxlength=100, help="Để trống: dùng realm nhà cung cấp gửi."),
        Field("register_interval", "Chu kỳ đăng ký (giây)", "number", default=300),
        Field("allowed_networks", "IP/dải mạng được phép (trunk IP)", "textarea",
              help="Mỗi dòng một IP hoặc CIDR, ví dụ 203.0.113.10 hoặc 203.0.113.0/28."),
        Field("caller_id_mode", "Số hiển thị khi gọi ra", "select", required=True, options=[
            ("extension", "Số của máy nhánh"), ("fixed", "Một số cố định"), ("anonymous", "Ẩn số")]),
        Field("caller_id_number", "Số cố định", "tel", maxlength=32),
        Field("max_channels", "Số kênh tối đa", "number", default=0, help="0 = không giới hạn."),
        Field("codecs", "Codec", "select", options=CODEC_CHOICES, help="Để trống: theo cài đặt chung."),
        Field("enabled", "Đang bật", "checkbox", default=True),
    ]


def _trunk_values(t) -> dict:
    return {f: getattr(t, f) for f in ("name", "kind", "host", "port", "transport", "username", "realm",
                                       "register_interval", "caller_id_mode", "caller_id_number", "max_channels",
                                       "enabled")} | {"allowed_networks": "\n".join(t.allowed_networks or []),
                                                      "codecs": ",".join(t.codecs or [])}


@router.get("/trunks")
def trunk_list(request: Request, db: DbDep, p: Principal = console("telephony.trunks.read")):
    params = list_params(request)
    qp = request.query_params
    org_id = org_scope(request, db, p)
    pg = extensions.list_trunks(db, p, params, organization_id=org_id, kind=qp.get("kind", "")[:10],
                                status=qp.get("status", "")[:12], enabled=bool_filter(qp.get("enabled")))
    can_write = p.has("telephony.trunks.write")
    rows = [Row([t.name, "Đăng ký" if t.kind == "register" else "Theo IP",
                 f"{t.host}:{t.port}/{t.transport.upper()}" if t.host else ", ".join(t.allowed_networks),
                 service.TRUNK_STATUS_LABELS.get(t.status, t.status) + (f" – {t.status_detail}" if t.status_detail
                                                                        else ""),
                 str(t.max_channels or "∞"), _enabled(t.enabled)],
                url=f"/telephony/trunks/{t.id}" if can_write else "",
                actions=row_actions(f"/telephony/trunks/{t.id}", f"Xóa trunk {t.name}?") if can_write else [])
            for t in pg.items]
    return list_page(request, db, p, org_id, "Trunk SIP", pg, rows,
                     [Column("Tên", "name"), Column("Kiểu", "kind"), Column("Địa chỉ", "host"),
                      Column("Tình trạng", "status"), Column("Kênh tối đa"), Column("Trạng thái")],
                     params.sort or "name", with_org("/telephony/trunks/new", p, org_id), can_write,
                     "Tên, địa chỉ…",
                     [Filter("status", "Tình trạng", list(service.TRUNK_STATUS_LABELS.items())),
                      Filter("enabled", "Trạng thái", YES_NO)])


@router.get("/trunks/new")
def trunk_new(request: Request, db: DbDep, p: Principal = console("telephony.trunks.write")):
    org_id = org_scope(request, db, p)
    return form(request, db, p, org_id, "Thêm trunk SIP", _trunk_fields(db, p, True),
                {"kind": "register", "transport": "udp", "port": 5060, "register_interval": 300,
                 "caller_id_mode": "extension", "max_channels": 0, "enabled": True, "organization_id": org_id},
                with_org("/telephony/trunks/new", p, org_id), "/telephony/trunks")


async def _save_trunk(request: Request, db, p: Principal, t=None):
    org_id = t.organization_id if t else org_scope(request, db, p)
    fields = _trunk_fields(db, p, t is None)
    data = await form_data(request, fields)
    payload = {**data, "allowed_networks": lines(data.get("allowed_networks")), "codecs": codecs_in(data.get("codecs"))}
    if t is not None and not payload.get("password"):
        payload.pop("password", None)
    return save_or_form(request, db, p, lambda: extensions.create_trunk(db, p, S.TrunkIn.model_validate(payload))
                        if t is None else extensions.update_trunk(db, p, t.id, S.TrunkPatch.model_validate(payload)),
                        org_id=org_id, fields=fields, values=data, hide=("password",),
                        title="Thêm trunk SIP" if t is None else f"Sửa trunk {t.name}", action=_this_url(request),
                        list_url="/telephony/trunks",
                        saved=lambda x: f"Đã lưu trunk {x.name}; bấm Áp dụng để đưa vào tổng đài.")


@router.get("/trunks/{trunk_id}")
def trunk_edit(trunk_id: str, request: Request, db: DbDep, p: Principal = console("telephony.trunks.write")):
    t = extensions.get_trunk(db, p, trunk_id)
    status = service.TRUNK_STATUS_LABELS.get(t.status, t.status)
    return form(request, db, p, t.organization_id, f"Sửa trunk {t.name}", _trunk_fields(db, p, False), _trunk_values(t),
                f"/telephony/trunks/{t.id}", "/telephony/trunks",
                notice=f"Tình trạng: {status}" + (f" ({t.status_detail})" if t.status_detail else "")
                + (f", cập nhật lúc {t.status_at:%H:%M %d/%m/%Y} UTC." if t.status_at else "."),
                extras=[delete_button("Xóa trunk", f"/telephony/trunks/{t.id}", f"Xóa trunk {t.name}?")])


add_object_pages(router, ObjectPages("/trunks", "trunk_id", "telephony.trunks.write", extensions.get_trunk,
                                     _save_trunk, extensions.delete_trunk, lambda t: f"Đã xóa trunk {t.name}."),
                 "trunk")


# --- PIN sets -----------------------------------------------------------------------------------
def _pin_fields(db, p: Principal, new: bool) -> list[Field]:
    fields = [Field("organization_id", "Tổ chức", "select", required=True, options=org_options(db))] \
        if new and p.is_sysadmin else []
    return fields + [Field("name", "Tên bộ mã", required=True, maxlength=100),
                     Field("description", "Mô tả", "textarea"),
                     Field("pins", "Các mã PIN", "textarea", help="Mỗi dòng một mã, 3–12 chữ số.")]


@router.get("/pin-sets")
def pin_list(request: Request, db: DbDep, p: Principal = console("telephony.pinsets.read")):
    params = list_params(request)
    org_id = org_scope(request, db, p)
    pg = routes.list_pin_sets(db, p, params, organization_id=org_id)
    can_write = p.has("telephony.pinsets.write")
    rows = [Row([s.name, s.description, f"{len(s.pins or [])} mã"], url=f"/telephony/pin-sets/{s.id}" if can_write
                else "", actions=row_actions(f"/telephony/pin-sets/{s.id}", f"Xóa bộ mã PIN {s.name}?") if can_write
                else []) for s in pg.items]
    return list_page(request, db, p, org_id, "Mã PIN gọi ra", pg, rows,
                     [Column("Tên", "name"), Column("Mô tả"), Column("Số mã")], params.sort or "name",
                     with_org("/telephony/pin-sets/new", p, org_id), can_write, "Tên bộ mã…")


@router.get("/pin-sets/new")
def pin_new(request: Request, db: DbDep, p: Principal = console("telephony.pinsets.write")):
    org_id = org_scope(request, db, p)
    return form(request, db, p, org_id, "Thêm bộ mã PIN", _pin_fields(db, p, True), {"organization_id": org_id},
                with_org("/telephony/pin-sets/new", p, org_id), "/telephony/pin-sets")


async def _save_pins(request: Request, db, p: Principal, s=None):
    org_id = s.organization_id if s else org_scope(request, db, p)
    fields = _pin_fields(db, p, s is None)
    data = await form_data(request, fields)
    payload = {**data, "pins": lines(data.get("pins"))}
    return save_or_form(request, db, p, lambda: routes.create_pin_set(db, p, S.PinSetIn.model_validate(payload))
                        if s is None else routes.update_pin_set(db, p, s.id, S.PinSetPatch.model_validate(payload)),
                        org_id=org_id, fields=fields, values=data,
                        title="Thêm bộ mã PIN" if s is None else f"Sửa bộ mã {s.name}",
                        action=str(request.url.path), list_url="/telephony/pin-sets",
                        saved=lambda x: f"Đã lưu bộ mã PIN {x.name}.",
                        fix_errors=lambda errors: {k.split(".")[0]: v for k, v in errors.items()})


@router.get("/pin-sets/{pin_set_id}")
def pin_edit(pin_set_id: str, request: Request, db: DbDep, p: Principal = console("telephony.pinsets.write")):
    s = routes.get_pin_set(db, p, pin_set_id)
    return form(request, db, p, s.organization_id, f"Sửa bộ mã {s.name}", _pin_fields(db, p, False),
                {"name": s.name, "description": s.description, "pins": "\n".join(s.pins or [])},
                f"/telephony/pin-sets/{s.id}", "/telephony/pin-sets",
                extras=[delete_button("Xóa bộ mã", f"/telephony/pin-sets/{s.id}", f"Xóa bộ mã PIN {s.name}?")])


add_object_pages(router, ObjectPages("/pin-sets", "pin_set_id", "telephony.pinsets.write", routes.get_pin_set,
                                     _save_pins, routes.delete_pin_set, lambda s: f"Đã xóa bộ mã PIN {s.name}."),
                 "pin")


router.include_router(web_routes.router)
router.include_router(web_media.router)
