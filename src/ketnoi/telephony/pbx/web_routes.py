"""Console pages of inbound routes (CC-10: DID and caller patterns → a typed destination, with an
optional prompt first) and outbound routes (CC-11: dial patterns, ordered trunks, PIN set, order)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import routes
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx.models import Extension, InboundRoute, PinSet, SoundFile, Trunk
from ketnoi.telephony.pbx.web_common import (
    YES_NO,
    done,
    form,
    list_page,
    org_options,
    org_scope,
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
    Action,
    Column,
    Field,
    Filter,
    Row,
    bool_filter,
    form_data,
    list_params,
)
from ketnoi.web.deps import DbDep, console

router = APIRouter()
PATTERN_HELP = ("Để trống = mọi số. Số cố định (1022) hoặc mẫu bắt đầu bằng _: X = 0-9, Z = 1-9, N = 2-9, "
                "[1-5] = tập chữ số, . ở cuối = một hoặc nhiều ký tự bất kỳ, ! ở cuối = không hoặc nhiều.")


async def _posted_org(request: Request, db, p: Principal, row=None) -> str:
    """A saved route's organization; for a new one, the one the form posted, else the page's."""
    if row is not None:
        return row.organization_id
    posted = await request.form()
    return str(posted.get("organization_id") or "")[:64] or org_scope(request, db, p)


def _new_route_form(request: Request, db, p: Principal, kind: str, title: str):
    """The empty form of a new inbound or outbound route (its option lists depend on the organization)."""
    org_id = org_scope(request, db, p)
    fields = _inbound_fields(db, p, org_id, True) if kind == "inbound" else _outbound_fields(db, p, org_id, True)
    return form(request, db, p, org_id, title, fields, {"enabled": True, "organization_id": org_id},
                with_org(f"/telephony/{kind}-routes/new", p, org_id), f"/telephony/{kind}-routes")


# --- inbound routes -----------------------------------------------------------------------------
def _destination_options(db, org_id: str, exclude_route: str | None = None) -> list[tuple[str, str]]:
    opts = [(f"extension:{e.id}", f"Máy nhánh {e.number}" + (f" – {e.display_name}" if e.display_name else ""))
            for e in db.scalars(select(Extension).where(Extension.organization_id == org_id).order_by(Extension.number))]
    opts += [(f"play:{s.id}", f"Phát lời chào rồi gác máy: {s.name}")
             for s in db.scalars(select(SoundFile).where(SoundFile.organization_id == org_id).order_by(SoundFile.name))]
    opts += [(f"route:{r.id}", f"Như tuyến gọi vào: {r.name}")
             for r in db.scalars(select(InboundRoute).where(InboundRoute.organization_id == org_id)
                                 .order_by(InboundRoute.name)) if r.id != exclude_route]
    return opts + [("number:", "Gọi ra số (nhập bên dưới)"), ("hangup:", "Gác máy")]


def _sound_options(db, org_id: str) -> list[tuple[str, str]]:
    return [(s.id, s.name) for s in db.scalars(select(SoundFile).where(SoundFile.organization_id == org_id)
                                               .order_by(SoundFile.name))]


def _inbound_fields(db, p: Principal, org_id: str, new: bool, route_id: str | None = None) -> list[Field]:
    fields = [Field("organization_id", "Tổ chức", "select", required=True, options=org_options(db))] \
        if new and p.is_sysadmin else []
    return fields + [
        Field("name", "Tên tuyến", required=True, maxlength=100),
        Field("did_pattern", "Số gọi đến (DID)", maxlength=64, help=PATTERN_HELP),
        Field("caller_pattern", "Số người gọi", maxlength=64, help="Để trống = mọi người gọi; cùng cú pháp như DID."),
        Field("prompt_sound_id", "Phát lời chào trước", "select", options=_sound_options(db, org_id),
              help="Tùy chọn: phát tệp âm thanh này rồi mới chuyển tới đích đến."),
        Field("destination", "Đích đến", "select", required=True,
              options=_destination_options(db, org_id, route_id)),
        Field("dest_number", "Số gọi ra", "tel", maxlength=32, help="Chỉ dùng khi đích đến là 'Gọi ra số'."),
        Field("description", "Ghi chú", "textarea"),
        Field("enabled", "Đang bật", "checkbox", default=True),
    ]


def _inbound_input(data: dict) -> dict:
    kind, _, ref = str(data.pop("destination", "") or "").partition(":")
    number = str(data.pop("dest_number", "") or "")
    data["destination"] = {"kind": kind or "hangup", "ref": number if kind == "number" else ref}
    return data


def _fix_errors(errors: dict) -> dict:
    """destination.ref → the form's field names."""
    out = {}
    for k, v in errors.items():
        out["destination" if k.startswith("destination") else k.split(".")[0]] = v
    return out


@router.get("/inbound-routes")
def inbound_list(request: Request, db: DbDep, p: Principal = console("telephony.inbound.read")):
    params = list_params(request)
    org_id = org_scope(request, db, p)
    pg = routes.list_inbound(db, p, params, organization_id=org_id,
                             enabled=bool_filter(request.query_params.get("enabled")))
    can_write = p.has("telephony.inbound.write")
    rows = []
    for r in pg.items:
        prompt = db.get(SoundFile, r.prompt_sound_id) if r.prompt_sound_id else None
        dest = routes.destination_label(db, r.dest_kind, r.dest_ref)
        rows.append(Row([r.name, r.did_pattern or "Mọi số", r.caller_pattern or "Mọi người gọi",
                         (f"Lời chào «{prompt.name}» → " if prompt else "") + dest,
                         "Đang bật" if r.enabled else "Đang tắt"],
                        url=f"/telephony/inbound-routes/{r.id}" if can_write else "",
                        actions=row_actions(f"/telephony/inbound-routes/{r.id}", f"Xóa tuyến gọi vào {r.name}?")
                        if can_write else []))
    return list_page(request, db, p, org_id, "Tuyến gọi vào", pg, rows,
                     [Column("Tên", "name"), Column("DID", "did_pattern"),
                      Column("Người gọi", "caller_pattern"), Column("Đích đến"), Column("Trạng thái")],
                     params.sort or "did_pattern", with_org("/telephony/inbound-routes/new", p, org_id),
                     can_write, "Tên, số DID…", [Filter("enabled", "Trạng thái", YES_NO)])


@router.get("/inbound-routes/new")
def inbound_new(request: Request, db: DbDep, p: Principal = console("telephony.inbound.write")):
    return _new_route_form(request, db, p, "inbound", "Thêm tuyến gọi vào")


async def _save_inbound(request: Request, db, p: Principal, r=None):
    org_id = await _posted_org(request, db, p, r)
    fields = _inbound_fields(db, p, org_id, r is None, r.id if r else None)
    data = await form_data(request, fields)
    values = dict(data)

    def save():
        payload = _inbound_input(data)
        return routes.create_inbound(db, p, S.InboundRouteIn.model_validate(payload)) if r is None \
            else routes.update_inbound(db, p, r.id, S.InboundRoutePatch.model_validate(payload))

    return save_or_form(request, db, p, save, org_id=org_id, fields=fields, values=values,
                        title="Thêm tuyến gọi vào" if r is None else f"Sửa tuyến {r.name}",
                        action=str(request.url.path), list_url="/telephony/inbound-routes", fix_errors=_fix_errors,
                        saved=lambda x: f"Đã lưu tuyến gọi vào {x.name}; bấm Áp dụng để đưa vào tổng đài.")


@router.get("/inbound-routes/{inbound_route_id}")
def inbound_edit(inbound_route_id: str, request: Request, db: DbDep,
                 p: Principal = console("telephony.inbound.write")):
    r = routes.get_inbound(db, p, inbound_route_id)
    values = {"name": r.name, "did_pattern": r.did_pattern, "caller_pattern": r.caller_pattern,
              "prompt_sound_id": r.prompt_sound_id, "description": r.description, "enabled": r.enabled,
              "destination": f"{r.dest_kind}:{'' if r.dest_kind == 'number' else r.dest_ref}",
              "dest_number": r.dest_ref if r.dest_kind == "number" else ""}
    return form(request, db, p, r.organization_id, f"Sửa tuyến {r.name}",
                _inbound_fields(db, p, r.organization_id, False, r.id), values,
                f"/telephony/inbound-routes/{r.id}", "/telephony/inbound-routes",
                extras=[delete_button("Xóa tuyến", f"/telephony/inbound-routes/{r.id}",
                                      f"Xóa tuyến gọi vào {r.name}?")])


add_object_pages(router, ObjectPages("/inbound-routes", "inbound_route_id", "telephony.inbound.write",
                                     routes.get_inbound, _save_inbound, routes.delete_inbound,
                                     lambda r: f"Đã xóa tuyến gọi vào {r.name}."), "inbound")


# --- outbound routes ----------------------------------------------------------------------------
TRUNK_SLOTS = 4


def _outbound_fields(db, p: Principal, org_id: str, new: bool) -> list[Field]:
    trunks = [(t.id, t.name) for t in db.scalars(select(Trunk).where(Trunk.organization_id == org_id)
                                                 .order_by(Trunk.name))]
    pins = [(s.id, s.name) for s in db.scalars(select(PinSet).where(PinSet.organization_id == org_id)
                                               .order_by(PinSet.name))]
    fields = [Field("organization_id", "Tổ chức", "select", required=True, options=org_options(db))] \
        if new and p.is_sysadmin else []
    fields += [Field("name", "Tên tuyến", required=True, maxlength=100),
               Field("patterns", "Mẫu quay số", "textarea", required=True,
                     help="Mỗi dòng: tiền tố bỏ đi | mẫu số | thêm vào đầu. Ví dụ '9 | _0XXXXXXXXX |' (quay 9 rồi số "
                          "di động, gửi đi không có 9) hoặc '| _1XXX |'. " + PATTERN_HELP)]
    fields += [Field(f"trunk_{n}", "Trunk ưu tiên 1" if n == 1 else f"Trunk dự phòng {n - 1}", "select",
                     required=n == 1, options=trunks) for n in range(1, TRUNK_SLOTS + 1)]
    return fields + [Field("pin_set_id", "Yêu cầu mã PIN", "select", options=pins,
                           help="Người gọi phải nhập một mã trong bộ này trước khi gọi ra."),
                     Field("caller_id_number", "Số hiển thị", "tel", maxlength=32,
                           help="Để trống: theo cài đặt của trunk."),
                     Field("enabled", "Đang bật", "checkbox", default=True)]


def _patterns_in(text: str) -> list[dict]:
    out = []
    for line in (x.strip() for x in str(text or "").splitlines()):
        if not line:
            continue
        parts = [x.strip() for x in line.split("|")]
        if len(parts) == 1:
            out.append({"prefix": "", "match": parts[0], "prepend": ""})
        else:
            parts += ["", ""]
            out.append({"prefix": parts[0], "match": parts[1], "prepend": parts[2]})
    return out


def _patterns_text(patterns: list[dict]) -> str:
    return "\n".join(f"{x.get('prefix', '')} | {x.get('match', '')} | {x.get('prepend', '')}".strip()
                     for x in patterns or [])


@router.get("/outbound-routes")
def outbound_list(request: Request, db: DbDep, p: Principal = console("telephony.outbound.read")):
    params = list_params(request)
    org_id = org_scope(request, db, p)
    pg = routes.list_outbound(db, p, params, organization_id=org_id,
                              enabled=bool_filter(request.query_params.get("enabled")))
    can_write = p.has("telephony.outbound.write")
    names = {t.id: t.name for t in db.scalars(select(Trunk).where(Trunk.organization_id == org_id))} if org_id else {}
    rows = []
    for r in pg.items:
        pats = "; ".join(f"{x['prefix']}|{x['match'] or '*'}|{x['prepend']}" for x in r.patterns or [])
        pin = db.get(PinSet, r.pin_set_id).name if r.pin_set_id else ""
        actions = row_actions(
            f"/telephony/outbound-routes/{r.id}", f"Xóa tuyến gọi ra {r.name}?",
            Action("Lên", f"/telephony/outbound-routes/{r.id}/move?position={max(1, r.position - 1)}", "post"),
            Action("Xuống", f"/telephony/outbound-routes/{r.id}/move?position={r.position + 1}", "post"),
        ) if can_write else []
        rows.append(Row([str(r.position), r.name, pats, " → ".join(names.get(i, "?") for i in r.trunk_ids), pin,
                         "Đang bật" if r.enabled else "Đang tắt"],
                        url=f"/telephony/outbound-routes/{r.id}" if can_write else "", actions=actions))
    return list_page(request, db, p, org_id, "Tuyến gọi ra", pg, rows,
                     [Column("Thứ tự", "position"), Column("Tên", "name"),
                      Column("Mẫu (tiền tố bỏ|mẫu|thêm)"), Column("Trunk (dự phòng)"), Column("Mã PIN"),
                      Column("Trạng thái")],
                     params.sort or "position", with_org("/telephony/outbound-routes/new", p, org_id),
                     can_write, "Tên tuyến…", [Filter("enabled", "Trạng thái", YES_NO)])


@router.get("/outbound-routes/new")
def outbound_new(request: Request, db: DbDep, p: Principal = console("telephony.outbound.write")):
    return _new_route_form(request, db, p, "outbound", "Thêm tuyến gọi ra")


async def _save_outbound(request: Request, db, p: Principal, r=None):
    org_id = await _posted_org(request, db, p, r)
    fields = _outbound_fields(db, p, org_id, r is None)
    data = await form_data(request, fields)
    values = dict(data)
    trunk_ids = [data.pop(f"trunk_{n}") for n in range(1, TRUNK_SLOTS + 1)]
    payload = {**data, "patterns": _patterns_in(data.get("patterns", "")),
               "trunk_ids": list(dict.fromkeys(t for t in trunk_ids if t))}
    return save_or_form(
        request, db, p, lambda: routes.create_outbound(db, p, S.OutboundRouteIn.model_validate(payload)) if r is None
        else routes.update_outbound(db, p, r.id, S.OutboundRoutePatch.model_validate(payload)),
        org_id=org_id, fields=fields, values=values, title="Thêm tuyến gọi ra" if r is None else f"Sửa tuyến {r.name}",
        action=str(request.url.path), list_url="/telephony/outbound-routes",
        saved=lambda x: f"Đã lưu tuyến gọi ra {x.name}; bấm Áp dụng để đưa vào tổng đài.",
        fix_errors=lambda errors: {("trunk_1" if k.startswith("trunk_ids") else k.split(".")[0]): v
                                   for k, v in errors.items()})


@router.get("/outbound-routes/{outbound_route_id}")
def outbound_edit(outbound_route_id: str, request: Request, db: DbDep,
                  p: Principal = console("telephony.outbound.write")):
    r = routes.get_outbound(db, p, outbound_route_id)
    values = {"name": r.name, "patterns": _patterns_text(r.patterns), "pin_set_id": r.pin_set_id,
              "caller_id_number": r.caller_id_number, "enabled": r.enabled}
    values |= {f"trunk_{n}": tid for n, tid in enumerate(r.trunk_ids[:TRUNK_SLOTS], start=1)}
    return form(request, db, p, r.organization_id, f"Sửa tuyến {r.name}",
                _outbound_fields(db, p, r.organization_id, False), values, f"/telephony/outbound-routes/{r.id}",
                "/telephony/outbound-routes",
                extras=[delete_button("Xóa tuyến", f"/telephony/outbound-routes/{r.id}",
                                      f"Xóa tuyến gọi ra {r.name}?")])


@router.post("/outbound-routes/{outbound_route_id}/move")
def outbound_move(outbound_route_id: str, request: Request, db: DbDep,
                  p: Principal = console("telephony.outbound.write")):
    r = routes.get_outbound(db, p, outbound_route_id)
    try:
        position = int(request.query_params.get("position", "0"))
    except ValueError:
        position = r.position
    routes.move_outbound(db, p, r.id, min(max(position, 1), 10000))
    return done(with_org("/telephony/outbound-routes", p, r.organization_id),
                f"Tuyến {r.name} giờ ở vị trí {r.position}.")


add_object_pages(router, ObjectPages("/outbound-routes", "outbound_route_id", "telephony.outbound.write",
                                     routes.get_outbound, _save_outbound, routes.delete_outbound,
                                     lambda r: f"Đã xóa tuyến gọi ra {r.name}."), "outbound")
