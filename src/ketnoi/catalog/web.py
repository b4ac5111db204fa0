"""Console pages of the catalog: the lazy area tree beside the area table (CRM-26…29), and categories
as a tree or a table with forms, CSV import and the default set (CRM-20…25). Each page reads like
its API twin: parse, authorize, call the service."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from ketnoi.catalog import defaults, service
from ketnoi.catalog import schemas as S
from ketnoi.catalog.api import icons_dir
from ketnoi.catalog.areas_data import CODE_LENGTHS, SCHEME_LABELS
from ketnoi.catalog.models import Area, Category
from ketnoi.core.errors import DomainError, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams
from ketnoi.identity.principal import Principal
from ketnoi.identity.service import list_organizations
from ketnoi.web.crud import Action, Column, Field, Row, bool_filter, field_errors, form_data, list_params
from ketnoi.web.deps import DbDep, console
from ketnoi.web.pages import render

router = APIRouter(prefix="/catalog")
SECTION = "Danh mục"
SCHEMES = list(SCHEME_LABELS.items())
LEVELS = [("1", "Cấp 1 – tỉnh/thành phố"), ("2", "Cấp 2 – xã/phường hoặc quận/huyện (sơ đồ cũ)"),
          ("3", "Cấp 3 – xã/phường (sơ đồ cũ)")]
STATUS = [("1", "Đang sử dụng"), ("0", "Ngừng sử dụng")]


def _done(url: str, msg: str) -> RedirectResponse:
    return RedirectResponse(f"{url}{'&' if '?' in url else '?'}msg={quote(msg)}", status_code=303)


def _status(ok: bool) -> str:
    return "Đang sử dụng" if ok else "Ngừng sử dụng"


def _form(request, p, title, fields, values, action, cancel, errors=None, form_error="", status=200,
          extras=None, notice=""):
    return render(request, "crud_form.html", p, status=status, title=title, section=SECTION, fields=fields,
                  values=values, errors=errors or {}, form_error=form_error, action=action, cancel_url=cancel,
                  extras=extras or [], notice=notice)


def _org_options(db, p) -> list[tuple[str, str]]:
    if not p.is_sysadmin:
        return []
    orgs = list_organizations(db, p, ListParams(page_size=200)).items
    return [(o.id, f"{o.code} – {o.name}") for o in orgs]


def _area_label(a: Area, with_scheme: bool = False) -> str:
    label = f"{a.code} – {a.name}"
    return f"[{'2025' if a.scheme == '2025' else 'cũ'}] {label}" if with_scheme else label


# --- areas --------------------------------------------------------------------------------------
@router.get("/areas")
def area_list(request: Request, db: DbDep, p: Principal = console("catalog.areas.read")):
    params = list_params(request, 50)
    qp = request.query_params
    scheme = qp.get("scheme", "2025")
    scheme = scheme if scheme in ("2025", "legacy", "") else "2025"
    parent = service.get_area(db, qp["parent_id"][:64]) if qp.get("parent_id") else None
    level_raw = qp.get("level")
    if level_raw is None and parent is None and not params.q:
        level_raw = "1"  # the table opens on the provinces
    level = int(level_raw) if level_raw in ("1", "2", "3") else None
    if parent is not None:
        scheme, level = parent.scheme, None
    is_active = bool_filter(qp.get("is_active"))
    page = service.list_areas(db, p, params, scheme=scheme, level=level,
                              parent_id=parent.id if parent else "", is_active=is_active)
    can_write = p.has("catalog.areas.write") and p.is_sysadmin
    counts = service.area_child_counts(db, [a.id for a in page.items])
    rows = []
    for a in page.items:
        actions = []
        if can_write:
            actions.append(Action("Sửa", f"/catalog/areas/{a.id}"))
            if a.level < max(CODE_LENGTHS[a.scheme]):
                actions.append(Action("Thêm cấp dưới", f"/catalog/areas/new?parent_id={a.id}"))
            actions.append(Action("Ngừng sử dụng" if a.is_active else "Sử dụng lại",
                                  f"/catalog/areas/{a.id}/retire", "post"))
            actions.append(Action("Xóa", f"/catalog/areas/{a.id}/delete", "post", cls="danger",
                                  confirm=f"Xóa khu vực {a.code} – {a.name}? Thao tác không hoàn tác được."))
        rows.append(Row([a.code, a.name, a.division_type, f"Cấp {a.level}", SCHEME_LABELS[a.scheme],
                         _status(a.is_active)], actions=actions,
                        url=f"/catalog/areas?parent_id={a.id}" if counts.get(a.id) else ""))
    return render(request, "catalog_areas.html", p, title="Khu vực hành chính", section=SECTION, page=page,
                  rows=rows, sort=params.sort or "code", row_actions=can_write, parent=parent,
                  crumbs_chain=service.area_ancestors(db, parent) if parent else [],
                  tree=service.area_children(db, None, scheme=scheme or "2025"), tree_scheme=scheme or "2025",
                  current={"scheme": scheme, "level": level_raw or "", "is_active": qp.get("is_active", "")},
                  schemes=SCHEMES, levels=LEVELS, statuses=STATUS, can_write=can_write,
                  columns=[Column("Mã", "code"), Column("Tên", "name"),
                           Column("Loại đơn vị", "division_type"), Column("Cấp", "level"),
                           Column("Sơ đồ", "scheme"), Column("Trạng thái")])


@router.get("/areas/tree")
def area_tree(request: Request, db: DbDep, p: Principal = console("catalog.areas.read")):
    """HTMX fragment: the children of one node (or the provinces of a scheme), each expandable."""
    qp = request.query_params
    scheme = qp.get("scheme", "2025") if qp.get("scheme") in ("2025", "legacy") else "2025"
    nodes = service.area_children(db, qp.get("parent_id", "")[:64] or None, scheme=scheme)
    return render(request, "catalog_area_tree.html", p, nodes=nodes)


def _area_fields(db, area: Area | None = None, parent: Area | None = None) -> list[Field]:
    fields = []
    if area is None:
        provinces = [a for s in ("2025", "legacy") for a, _ in service.area_children(db, None, scheme=s)]
        opts = [(a.id, _area_label(a, True)) for a in provinces]
        if parent is not None and parent.level > 1:
            opts.insert(0, (parent.id, _area_label(parent, True)))
        fields += [Field("scheme", "Sơ đồ hành chính", "select", required=True, options=SCHEMES),
                   Field("level", "Cấp", "select", required=True, options=LEVELS),
                   Field("parent_id", "Khu vực cấp trên", "select", options=opts,
                         help="Để trống khi tạo tỉnh/thành phố. Để thêm xã/phường của một quận/huyện "
                              "(sơ đồ cũ), bấm 'Thêm cấp dưới' ở dòng quận/huyện đó.")]
    fields += [Field("code", "Mã hành chính quốc gia", required=True, maxlength=5,
                     help="Chỉ gồm chữ số: 2 chữ số cho tỉnh/thành phố, 3 cho quận/huyện (sơ đồ cũ), "
                          "5 cho xã/phường."),
               Field("name", "Tên khu vực", required=True, maxlength=200),
               Field("division_type", "Loại đơn vị", maxlength=60,
                     help="Ví dụ: Tỉnh, Thành phố trực thuộc Trung ương, Phường, Xã, Đặc khu."),
               Field("is_active", "Đang sử dụng", "checkbox", default=True)]
    return fields


def _national_notice(p: Principal) -> str:
    return "" if p.is_sysadmin else service.NATIONAL_ONLY


@router.get("/areas/new")
def area_new(request: Request, db: DbDep, p: Principal = console("catalog.areas.write")):
    pid = request.query_params.get("parent_id", "")[:64]
    parent = service.get_area(db, pid) if pid else None
    values = {"is_active": True, "scheme": parent.scheme if parent else "2025",
              "level": str(parent.level + 1) if parent else "1", "parent_id": parent.id if parent else None}
    return _form(request, p, "Thêm khu vực", _area_fields(db, parent=parent), values, "/catalog/areas/new",
                 "/catalog/areas", notice=_national_notice(p))


@router.post("/areas/new")
async def area_create(request: Request, db: DbDep, p: Principal = console("catalog.areas.write")):
    service.require_national_admin(p)
    form = await request.form()
    pid = str(form.get("parent_id", ""))[:64]
    parent = db.get(Area, pid) if pid else None
    fields = _area_fields(db, parent=parent)
    data = await form_data(request, fields)
    try:
        a = service.create_area(db, p, S.AreaIn.model_validate(data))
    except Exception as e:
        errors, msg = field_errors(e)
        db.rollback()
        return _form(request, p, "Thêm khu vực", _area_fields(db, parent=parent), data, "/catalog/areas/new",
                     "/catalog/areas", errors, msg, 422)
    back = f"/catalog/areas?parent_id={a.parent_id}" if a.parent_id else f"/catalog/areas?scheme={a.scheme}"
    return _done(back, f"Đã tạo khu vực {a.code} – {a.name}.")


def _area_extras(db, a: Area) -> list[dict]:
    children, cats, reports = service.area_usage(db, a)
    usage = f"Có {children} khu vực cấp dưới, {cats} lĩnh vực và {reports} phản ánh đang dùng khu vực này."
    toggle = "Ngừng sử dụng" if a.is_active else "Sử dụng lại"
    return [{"title": toggle, "label": toggle, "url": f"/catalog/areas/{a.id}/retire",
             "text": "Khu vực ngừng sử dụng vẫn giữ lịch sử phản ánh nhưng không còn để chọn mới."},
            {"title": "Xóa khu vực", "text": usage + " Chỉ xóa được khu vực chưa được dùng; nếu không, hãy "
             "cho ngừng sử dụng.", "label": "Xóa", "url": f"/catalog/areas/{a.id}/delete", "cls": "danger",
             "confirm": f"Xóa khu vực {a.code} – {a.name}? Thao tác không hoàn tác được."}]


def _area_title(db, a: Area) -> str:
    chain = " › ".join(x.name for x in service.area_ancestors(db, a)[:-1])
    return f"Sửa khu vực {a.code} – {a.name}" + (f" ({chain})" if chain else "")


@router.get("/areas/{area_id}")
def area_edit(area_id: str, request: Request, db: DbDep, p: Principal = console("catalog.areas.write")):
    a = service.get_area(db, area_id)
    values = {"code": a.code, "name": a.name, "division_type": a.division_type, "is_active": a.is_active}
    notice = _national_notice(p) or f"{SCHEME_LABELS[a.scheme]} · cấp {a.level}."
    return _form(request, p, _area_title(db, a), _area_fields(db, a), values, f"/catalog/areas/{a.id}",
                 "/catalog/areas", extras=_area_extras(db, a) if p.is_sysadmin else [], notice=notice)


@router.post("/areas/{area_id}")
async def area_update(area_id: str, request: Request, db: DbDep,
                      p: Principal = console("catalog.areas.write")):
    service.require_national_admin(p)
    a = service.get_area(db, area_id)
    data = await form_data(request, _area_fields(db, a))
    try:
        service.update_area(db, p, a.id, S.AreaPatch.model_validate(data))
    except Exception as e:
        errors, msg = field_errors(e)
        db.rollback()
        return _form(request, p, _area_title(db, a), _area_fields(db, a), data, f"/catalog/areas/{a.id}",
                     "/catalog/areas", errors, msg, 422, extras=_area_extras(db, a))
    back = f"/catalog/areas?parent_id={a.parent_id}" if a.parent_id else f"/catalog/areas?scheme={a.scheme}"
    return _done(back, "Đã lưu khu vực.")


@router.post("/areas/{area_id}/retire")
def area_retire(area_id: str, db: DbDep, p: Principal = console("catalog.areas.write")):
    a = service.get_area(db, area_id)
    service.update_area(db, p, a.id, S.AreaPatch(is_active=not a.is_active))
    back = f"/catalog/areas?parent_id={a.parent_id}" if a.parent_id else f"/catalog/areas?scheme={a.scheme}"
    return _done(back, f"Khu vực {a.code} – {a.name}: {_status(a.is_active).lower()}.")


@router.post("/areas/{area_id}/delete")
def area_delete(area_id: str, db: DbDep, p: Principal = console("catalog.areas.write")):
    a = service.get_area(db, area_id)
    back = f"/catalog/areas?parent_id={a.parent_id}" if a.parent_id else f"/catalog/areas?scheme={a.scheme}"
    try:
        service.delete_area(db, p, a.id)
    except DomainError as e:
        db.rollback()
        return _done(back, "Không xóa được: " + e.detail)
    return _done(back, f"Đã xóa khu vực {a.code} – {a.name}.")


# --- categories ---------------------------------------------------------------------------------
def _category_actions(c: Category, kids: int) -> list[Action]:
    delete = Action("Xóa", f"/catalog/categories/{c.id}/delete", "post", cls="danger",
                    confirm=f"Xóa lĩnh vực {c.code} – {c.name}? Lĩnh vực đang có phản ánh sẽ chuyển sang "
                            "ngừng sử dụng.")
    if kids:
        delete.url += "?confirm_children=1"
        delete.confirm2 = (f"{c.code} là lĩnh vực cha của {kids} lĩnh vực con. Xác nhận lần hai: xóa cả các "
                           "lĩnh vực con?")
    return [Action("Sửa", f"/catalog/categories/{c.id}"),
            Action("Thêm con", f"/catalog/categories/new?parent_id={c.id}"), delete]


@router.get("/categories")
def category_list(request: Request, db: DbDep, p: Principal = console("catalog.categories.read")):
    params = list_params(request)
    qp = request.query_params
    view = "tree" if qp.get("view") == "tree" else "table"
    org = qp.get("organization_id", "")[:64] if p.is_sysadmin else ""
    area_id = qp.get("area_id", "")[:64]
    area = db.get(Area, area_id) if area_id else None
    is_active = bool_filter(qp.get("is_active"))
    can_write = p.has("catalog.categories.write")
    orgs = _org_options(db, p)
    org_codes = {oid: label.split(" – ")[0] for oid, label in orgs}
    rows, nodes, page = [], [], None
    if view == "tree":
        nodes = service.category_tree(db, p, org or None, area_id=area_id, is_active=is_active, q=params.q)
        kids = service.child_counts(db, [n.category.id for n in service.walk(nodes)])
    else:
        page = service.list_categories(db, p, params, organization_id=org, area_id=area_id,
                                       is_active=is_active)
        kids = service.child_counts(db, [c.id for c in page.items])
        for c in page.items:
            more = f" (+{len(c.areas) - 3})" if len(c.areas) > 3 else ""
            cells = [c.code, c.name, f"{c.parent.code} – {c.parent.name}" if c.parent else "",
                     ", ".join(a.name for a in c.areas[:3]) + more, str(c.sort_order), _status(c.is_active)]
            rows.append(Row(cells + ([org_codes.get(c.organization_id, "")] if p.is_sysadmin else []),
                            url=f"/catalog/categories/{c.id}" if can_write else "",
                            actions=_category_actions(c, kids.get(c.id, 0)) if can_write else []))
    return render(request, "catalog_categories.html", p, title="Lĩnh vực", section=SECTION, view=view,
                  page=page, rows=rows, nodes=nodes, kids=kids, sort=params.sort or "code",
                  row_actions=can_write, can_write=can_write, area=area, orgs=orgs, statuses=STATUS,
                  actions_for=_category_actions,
                  columns=[Column("Mã", "code"), Column("Tên", "name"), Column("Lĩnh vực cha"),
                           Column("Khu vực áp dụng"), Column("Thứ tự", "sort_order"), Column("Trạng thái")]
                  + ([Column("Tổ chức")] if p.is_sysadmin else []))


def _category_fields(db, p, c: Category | None = None, org_id: str | None = None,
                     area_ids: list[str] | None = None) -> list[Field]:
    org_id = c.organization_id if c else org_id
    fields = []
    if p.is_sysadmin and c is None:
        fields.append(Field("organization_id", "Tổ chức", "select", required=True,
                            options=_org_options(db, p)))
    exclude = {x.id for x, _ in service.subtree(db, c)} if c else set()
    # a system administrator who has not chosen the organization yet sees every one's, marked
    org_codes = {oid: label.split(" – ")[0] for oid, label in _org_options(db, p)} if not org_id else {}
    parents = [(n.category.id, (f"[{org_codes.get(n.category.organization_id, '?')}] " if org_codes else "")
                + "— " * n.depth + f"{n.category.code} – {n.category.name}")
               for n in service.walk(service.category_tree(db, p, org_id)) if n.category.id not in exclude]
    if area_ids is None:
        area_ids = [a.id for a in c.areas] if c else []
    chosen = service.areas_by_ids(db, area_ids, strict=False)
    provinces = [a for a, _ in service.area_children(db, None, scheme="2025")]
    area_opts = [(a.id, _area_label(a, a.scheme != "2025")) for a in chosen]
    area_opts += [(a.id, _area_label(a)) for a in provinces if a not in chosen]
    fields += [Field("code", "Mã lĩnh vực", required=True, maxlength=50,
                     help="Chữ không dấu, chữ số và . _ -"),
               Field("name", "Tên lĩnh vực", required=True, maxlength=200),
               Field("parent_id", "Lĩnh vực cha", "select", options=parents,
                     help="Để trống nếu là lĩnh vực cấp cao nhất; lĩnh vực con cần chọn lĩnh vực cha đã có."),
               Field("sort_order", "Thứ tự hiển thị", "number", default=0),
               Field("description", "Mô tả", "textarea"),
               Field("area_ids", "Khu vực áp dụng", "multiselect", options=area_opts,
                     help="Tìm thêm xã/phường theo tên hoặc mã; lĩnh vực gắn với tỉnh/thành phố áp dụng "
                          "cho cả các xã/phường trực thuộc."),
               Field("is_active", "Đang sử dụng", "checkbox", default=True)]
    return fields


def _category_form(request, p, title, fields, values, action, c=None, errors=None, form_error="", status=200):
    extras = []
    if c is not None:
        extras.append({"title": "Xóa lĩnh vực", "label": "Xóa", "url": f"/catalog/categories/{c.id}/delete",
                       "cls": "danger",
                       "text": "Lĩnh vực đang có phản ánh sẽ chuyển sang ngừng sử dụng thay vì xóa.",
                       "confirm": f"Xóa lĩnh vực {c.code} – {c.name}?"})
    return render(request, "catalog_category_form.html", p, status=status, title=title, section=SECTION,
                  fields=fields, values=values, errors=errors or {}, form_error=form_error, action=action,
                  cancel_url="/catalog/categories", extras=extras, category=c)


@router.get("/categories/new")
def category_new(request: Request, db: DbDep, p: Principal = console("catalog.categories.write")):
    qp = request.query_params
    parent = service.get_category(db, p, qp["parent_id"][:64]) if qp.get("parent_id") else None
    org = parent.organization_id if parent else (qp.get("organization_id", "")[:64] or None)
    values = {"is_active": True, "sort_order": 0, "parent_id": parent.id if parent else None,
              "organization_id": org, "area_ids": [a.id for a in parent.areas] if parent else []}
    return _category_form(request, p, "Thêm lĩnh vực", _category_fields(db, p, org_id=org,
                          area_ids=values["area_ids"]), values, "/catalog/categories/new")


async def _icon_upload(request: Request) -> bytes:
    upload = (await request.form()).get("icon")
    if isinstance(upload, UploadFile) and upload.filename:
        return await upload.read(service.MAX_ICON_BYTES + 1)
    return b""


async def _save_category(request: Request, db, p: Principal, c: Category | None):
    form = await request.form()
    org = (str(form.get("organization_id", ""))[:64] or None) if c is None else c.organization_id
    area_ids = [str(v)[:64] for v in form.getlist("area_ids")][:5000]
    title, action = ("Thêm lĩnh vực", "/catalog/categories/new") if c is None else (
        f"Sửa lĩnh vực {c.code}", f"/catalog/categories/{c.id}")
    data = await form_data(request, _category_fields(db, p, c, org, area_ids))
    icon = await _icon_upload(request)
    errors, msg = {}, ""
    try:
        saved = (service.create_category(db, p, S.CategoryIn.model_validate(data)) if c is None
                 else service.update_category(db, p, c.id, S.CategoryPatch.model_validate(data)))
        if icon:
            try:
                service.set_icon(db, p, saved.id, icon, icons_dir(request))
            except DomainError as e:
                errors, msg = {"icon": e.detail}, "Biểu tượng không hợp lệ; chưa lưu thay đổi."
    except Exception as e:
        errors, msg = field_errors(e)
    if errors or msg:
        db.rollback()
        return _category_form(request, p, title, _category_fields(db, p, c, org, area_ids), data, action, c,
                              errors, msg, 422)
    return _done("/catalog/categories", f"Đã lưu lĩnh vực {saved.code} – {saved.name}.")


@router.post("/categories/new")
async def category_create(request: Request, db: DbDep, p: Principal = console("catalog.categories.write")):
    return await _save_category(request, db, p, None)


@router.get("/categories/import")
def category_import_page(request: Request, db: DbDep, p: Principal = console("catalog.categories.write")):
    return render(request, "catalog_category_import.html", p, title="Nhập lĩnh vực từ tệp CSV",
                  section=SECTION, orgs=_org_options(db, p), schemes=SCHEMES, result=None,
                  columns=service.IMPORT_COLUMNS)


@router.post("/categories/import")
async def category_import(request: Request, db: DbDep, p: Principal = console("catalog.categories.write")):
    """CRM-21: the page posts with HTMX (progress bar while uploading) and gets the result fragment back."""
    form = await request.form()
    upload = form.get("file")
    content = await upload.read(service.MAX_IMPORT_BYTES + 1) if isinstance(upload, UploadFile) else b""
    org = str(form.get("organization_id", ""))[:64] or None
    scheme = str(form.get("scheme", "2025"))
    status = 200
    try:
        if not content:
            raise ValidationFailed.field("file", "Chưa chọn tệp CSV.")
        items = service.import_categories(db, p, content, organization_id=org,
                                          scheme=scheme if scheme in SCHEME_LABELS else "2025")
        result = {"imported": items}
    except service.ImportRejected as e:
        db.rollback()
        result, status = {"rejected": e.rows, "detail": e.detail}, e.status
    except DomainError as e:
        db.rollback()
        result, status = {"error": e.detail}, e.status
    template = "catalog_category_import_result.html" if request.headers.get("HX-Request") \
        else "catalog_category_import.html"
    return render(request, template, p, status=status, title="Nhập lĩnh vực từ tệp CSV", section=SECTION,
                  orgs=_org_options(db, p), schemes=SCHEMES, result=result, columns=service.IMPORT_COLUMNS)


def _defaults_page(request, db, p, org: str | None, error: str = "", status: int = 200):
    have: set[str] = set()
    if org or not p.is_sysadmin:
        have = {n.category.code.lower() for n in service.walk(service.category_tree(db, p, org))}
    return render(request, "catalog_category_defaults.html", p, status=status,
                  title="Thêm lĩnh vực từ bộ mặc định", section=SECTION, groups=defaults.DEFAULT_CATEGORIES,
                  have=have, org=org or "", orgs=_org_options(db, p), error=error)


@router.get("/categories/defaults")
def category_defaults_page(request: Request, db: DbDep, p: Principal = console("catalog.categories.write")):
    return _defaults_page(request, db, p, request.query_params.get("organization_id", "")[:64] or None)


@router.post("/categories/defaults")
async def category_defaults_create(request: Request, db: DbDep,
                                   p: Principal = console("catalog.categories.write")):
    form = await request.form()
    org = str(form.get("organization_id", ""))[:64] or None
    codes = None if form.get("all") == "1" else [str(c)[:50] for c in form.getlist("codes")][:500]
    try:
        created, skipped = defaults.create_from_defaults(db, p, codes, org)
    except DomainError as e:
        db.rollback()
        return _defaults_page(request, db, p, org, e.detail, e.status)
    msg = f"Đã tạo {len(created)} lĩnh vực từ bộ mặc định" + (
        f"; bỏ qua {len(skipped)} mã đã có ({', '.join(skipped[:10])})." if skipped else ".")
    return _done("/catalog/categories?view=tree", msg)


@router.get("/categories/{category_id}")
def category_edit(category_id: str, request: Request, db: DbDep,
                  p: Principal = console("catalog.categories.write")):
    c = service.get_category(db, p, category_id)
    values = {"code": c.code, "name": c.name, "description": c.description, "parent_id": c.parent_id,
              "sort_order": c.sort_order, "is_active": c.is_active, "area_ids": [a.id for a in c.areas]}
    return _category_form(request, p, f"Sửa lĩnh vực {c.code}", _category_fields(db, p, c), values,
                          f"/catalog/categories/{c.id}", c)


@router.post("/categories/{category_id}")
async def category_update(category_id: str, request: Request, db: DbDep,
                          p: Principal = console("catalog.categories.write")):
    return await _save_category(request, db, p, service.get_category(db, p, category_id))


@router.post("/categories/{category_id}/delete")
def category_delete(category_id: str, request: Request, db: DbDep,
                    p: Principal = console("catalog.categories.write")):
    confirm = bool_filter(request.query_params.get("confirm_children")) is True
    try:
        out = service.delete_category(db, p, category_id, confirm_children=confirm,
                                      icons_dir=icons_dir(request))
    except NotFound:
        raise
    except DomainError as e:
        db.rollback()
        return _done("/catalog/categories", "Không xóa được: " + e.detail)
    return _done("/catalog/categories", out.message)
