"""Rules for areas (national administrative units, CRM-26…29) and report categories (CRM-20…25).

Areas are national data: every holder of the read role sees them all and only system administrators
change them. Categories belong to an organization, scoped like departments in identity/service.py:
another organization's category is 'not found'. Every change writes an audit row in the same
transaction. The bulk loader is in ``areas_data.py``, the default category set in ``defaults.py``.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import event, false, func, select
from sqlalchemy.orm import Session, selectinload

from ketnoi.audit.service import record, snapshot
from ketnoi.catalog import schemas as S
from ketnoi.catalog.areas_data import CODE_LENGTHS, SCHEME_LABELS
from ketnoi.catalog.models import Area, Category, category_areas
from ketnoi.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.db.base import new_id
from ketnoi.identity.principal import Principal
from ketnoi.identity.service import get_organization, organization_for_write
from ketnoi.reports.models import Report

AREA_FIELDS = ("scheme", "code", "name", "division_type", "level", "parent_id", "is_active")
CATEGORY_FIELDS = ("code", "name", "description", "parent_id", "sort_order", "is_active", "icon")
LEVEL_LABELS = {"2025": {1: "tỉnh/thành phố", 2: "xã/phường/đặc khu"},
                "legacy": {1: "tỉnh/thành phố", 2: "quận/huyện", 3: "xã/phường/thị trấn"}}
NATIONAL_ONLY = ("Khu vực hành chính là dữ liệu dùng chung toàn quốc: chỉ quản trị hệ thống được thêm, sửa "
                 "hoặc xóa. Hãy liên hệ quản trị hệ thống.")
RETIRE_HINT = "Hãy cho ngừng sử dụng (bỏ chọn 'Đang sử dụng', is_active = false) thay vì xóa."


class PayloadTooLarge(DomainError):
    status = 413
    title = "Dữ liệu gửi lên quá lớn"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Kiểu dữ liệu không được hỗ trợ"


# --- areas --------------------------------------------------------------------------------------
def require_national_admin(p: Principal) -> None:
    if not p.is_sysadmin:
        raise Forbidden(NATIONAL_ONLY)


def list_areas(db: Session, p: Principal, params: ListParams, *, scheme: str = "", level: int | None = None,
               parent_id: str = "", is_active: bool | None = None) -> Page:
    stmt = select(Area)
    if scheme:
        stmt = stmt.where(Area.scheme == scheme)
    if level is not None:
        stmt = stmt.where(Area.level == level)
    if parent_id:
        stmt = stmt.where(Area.parent_id == parent_id)
    if is_active is not None:
        stmt = stmt.where(Area.is_active == is_active)
    if params.q:
        stmt = apply_search(stmt, params.q, [Area.code, Area.name])
    return paginate(db, stmt, params, {"code": Area.code, "name": Area.name, "level": Area.level,
                                       "scheme": Area.scheme, "division_type": Area.division_type,
                                       "created_at": Area.created_at}, "code")


def get_area(db: Session, area_id: str) -> Area:
    a = db.get(Area, area_id)
    if a is None:
        raise NotFound("Không tìm thấy khu vực.")
    return a


def area_ancestors(db: Session, a: Area) -> list[Area]:
    """The chain from the province down to ``a`` (inclusive), read off its path."""
    ids = [i for i in a.path.strip("/").split("/") if i]
    by_id = {x.id: x for x in db.scalars(select(Area).where(Area.id.in_(ids)))} if ids else {}
    return [by_id[i] for i in ids if i in by_id]


def area_children(db: Session, parent_id: str | None, *, scheme: str = "2025",
                  is_active: bool | None = None) -> list[tuple[Area, int]]:
    """Children of a node (or the provinces of ``scheme``) with how many children each has."""
    if parent_id:
        stmt = select(Area).where(Area.parent_id == get_area(db, parent_id).id)
    else:
        stmt = select(Area).where(Area.parent_id.is_(None), Area.scheme == scheme)
    if is_active is not None:
        stmt = stmt.where(Area.is_active == is_active)
    rows = list(db.scalars(stmt.order_by(Area.code)))
    counts = area_child_counts(db, [a.id for a in rows])
    return [(a, counts.get(a.id, 0)) for a in rows]


def area_child_counts(db: Session, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    return dict(db.execute(select(Area.parent_id, func.count()).where(Area.parent_id.in_(ids))
                           .group_by(Area.parent_id)).tuples().all())


def _check_area_code(scheme: str, level: int, code: str) -> None:
    if not re.fullmatch(r"[0-9]+", code):
        raise ValidationFailed.field("code", "Mã khu vực chỉ gồm chữ số (mã đơn vị hành chính quốc gia).")
    need = CODE_LENGTHS[scheme][level]
    if len(code) != need:
        raise ValidationFailed.field("code", f"Mã {LEVEL_LABELS[scheme][level]} phải có đúng {need} chữ số "
                                             "(theo mã hành chính quốc gia).")


def _check_area_unique(db: Session, scheme: str, code: str, exclude: str | None = None) -> None:
    stmt = select(Area.id).where(Area.scheme == scheme, Area.code == code)
    if exclude:
        stmt = stmt.where(Area.id != exclude)
    if db.scalar(stmt):
        msg = f"Mã khu vực {code} đã tồn tại trong {SCHEME_LABELS[scheme].lower()}."
        raise Conflict(msg, [{"field": "code", "message": msg}])


def create_area(db: Session, p: Principal, data: S.AreaIn) -> Area:
    require_national_admin(p)
    levels = CODE_LENGTHS[data.scheme]
    if data.level not in levels:
        raise ValidationFailed.field("level", f"{SCHEME_LABELS[data.scheme]} chỉ có {max(levels)} cấp.")
    parent = None
    if data.level == 1:
        if data.parent_id:
            raise ValidationFailed.field("parent_id", "Tỉnh/thành phố (cấp 1) không có khu vực cấp trên.")
    else:
        if not data.parent_id:
            raise ValidationFailed.field("parent_id", f"Chọn khu vực cấp trên (cấp {data.level - 1}).")
        parent = db.get(Area, data.parent_id)
        if parent is None:
            raise ValidationFailed.field("parent_id", "Khu vực cấp trên không tồn tại.")
        if parent.scheme != data.scheme:
            raise ValidationFailed.field("parent_id", "Khu vực cấp trên thuộc sơ đồ hành chính khác.")
        if parent.level + 1 != data.level:
            msg = (f"Cấp phải bằng cấp của khu vực cấp trên cộng 1: {parent.name} là cấp {parent.level}, "
                   f"nên khu vực mới là cấp {parent.level + 1}.")
            raise ValidationFailed.field("level", msg)
    _check_area_code(data.scheme, data.level, data.code)
    _check_area_unique(db, data.scheme, data.code)
    a = Area(id=new_id(), scheme=data.scheme, code=data.code, name=data.name,
             division_type=data.division_type, level=data.level, parent_id=parent.id if parent else None,
             latitude=data.latitude, longitude=data.longitude, is_active=data.is_active)
    a.path = (parent.path if parent else "/") + a.id + "/"
    db.add(a)
    db.flush()
    record(db, p, "area.created", "area", a.id, after=snapshot(a, AREA_FIELDS), organization_id=None,
           summary=f"Tạo khu vực {a.code} – {a.name}")
    return a


def update_area(db: Session, p: Principal, area_id: str, data: S.AreaPatch) -> Area:
    require_national_admin(p)
    a = get_area(db, area_id)
    before = snapshot(a, AREA_FIELDS)
    if data.code is not None and data.code != a.code:
        _check_area_code(a.scheme, a.level, data.code)
        _check_area_unique(db, a.scheme, data.code, exclude=a.id)
        a.code = data.code
    if data.name is not None:
        a.name = data.name
    if data.division_type is not None:
        a.division_type = data.division_type
    if data.is_active is not None:
        a.is_active = data.is_active
    db.flush()
    record(db, p, "area.updated", "area", a.id, before=before, after=snapshot(a, AREA_FIELDS),
           organization_id=None, summary=f"Sửa khu vực {a.code} – {a.name}")
    return a


def area_usage(db: Session, a: Area) -> tuple[int, int, int]:
    """(children, categories, reports) that refer to the area."""
    children = db.scalar(select(func.count()).select_from(Area).where(Area.parent_id == a.id)) or 0
    cats = db.scalar(select(func.count()).select_from(category_areas)
                     .where(category_areas.c.area_id == a.id)) or 0
    reports = db.scalar(select(func.count()).select_from(Report).where(Report.area_id == a.id)) or 0
    return children, cats, reports


def delete_area(db: Session, p: Principal, area_id: str) -> None:
    require_national_admin(p)
    a = get_area(db, area_id)
    children, cats, reports = area_usage(db, a)
    if children:
        raise Conflict(f"Khu vực {a.code} – {a.name} còn {children} khu vực cấp dưới nên không xóa được. "
                       + RETIRE_HINT)
    if cats or reports:
        used = " và ".join(x for x in (f"{cats} lĩnh vực" if cats else "",
                                       f"{reports} phản ánh" if reports else "") if x)
        raise Conflict(f"Khu vực {a.code} – {a.name} đang được dùng bởi {used} nên không xóa được. "
                       + RETIRE_HINT)
    record(db, p, "area.deleted", "area", a.id, before=snapshot(a, AREA_FIELDS), organization_id=None,
           summary=f"Xóa khu vực {a.code} – {a.name}")
    db.delete(a)


def areas_by_ids(db: Session, ids: list[str], *, strict: bool = True) -> list[Area]:
    ids = list(dict.fromkeys(ids))
    areas = list(db.scalars(select(Area).where(Area.id.in_(ids)))) if ids else []
    if strict and len(areas) != len(ids):
        raise ValidationFailed.field("area_ids", "Có khu vực không tồn tại.")
    return sorted(areas, key=lambda a: (a.scheme, a.code))


# --- categories ---------------------------------------------------------------------------------
def category_snapshot(c: Category) -> dict:
    d = snapshot(c, CATEGORY_FIELDS)
    d["area_codes"] = [f"{a.scheme}:{a.code}" for a in c.areas]
    return d


def category_organization(db: Session, p: Principal, requested: str | None) -> str:
    """The organization new categories go to: the actor's own, or the one a system admin chose."""
    org_id = organization_for_write(p, requested)
    if p.is_sysadmin:
        try:
            get_organization(db, p, org_id)
        except NotFound:
            raise ValidationFailed.field("organization_id", "Tổ chức không tồn tại.") from None
    return org_id


def get_category(db: Session, p: Principal, category_id: str) -> Category:
    c = db.get(Category, category_id)
    if c is None or not p.sees_organization(c.organization_id):
        raise NotFound("Không tìm thấy lĩnh vực.")
    return c


def _area_scope(db: Session, area_id: str) -> list[str]:
    """The area and its ancestors: a category attached to a province applies to its wards too."""
    a = db.get(Area, area_id)
    return [x for x in a.path.strip("/").split("/") if x] if a is not None else []


def list_categories(db: Session, p: Principal, params: ListParams, *, organization_id: str = "",
                    parent_id: str = "", area_id: str = "", is_active: bool | None = None) -> Page:
    stmt = select(Category).options(selectinload(Category.areas))
    if not p.is_sysadmin:
        stmt = stmt.where(Category.organization_id == p.organization_id)
    elif organization_id:
        stmt = stmt.where(Category.organization_id == organization_id)
    if parent_id:
        stmt = stmt.where(Category.parent_id == parent_id)
    if area_id:
        scope = _area_scope(db, area_id)
        stmt = stmt.where(Category.id.in_(select(category_areas.c.category_id).where(
            category_areas.c.area_id.in_(scope)))) if scope else stmt.where(false())
    if is_active is not None:
        stmt = stmt.where(Category.is_active == is_active)
    if params.q:
        stmt = apply_search(stmt, params.q, [Category.code, Category.name, Category.description])
    sortable = {"code": Category.code, "name": Category.name, "sort_order": Category.sort_order,
                "created_at": Category.created_at}
    return paginate(db, stmt, params, sortable, "code")


@dataclass
class TreeNode:
    category: Category
    depth: int
    matched: bool = True
    children: list[TreeNode] = field(default_factory=list)


def category_tree(db: Session, p: Principal, organization_id: str | None = None, *, area_id: str = "",
                  is_active: bool | None = None, q: str = "") -> list[TreeNode]:
    """The visible categories as a forest ordered by (sort_order, code). With filters, the nodes that match
    are kept with their ancestors (``matched`` tells which is which)."""
    stmt = select(Category).options(selectinload(Category.areas))
    org = organization_id if p.is_sysadmin else p.organization_id
    if org:
        stmt = stmt.where(Category.organization_id == org)
    rows = list(db.scalars(stmt))
    scope = set(_area_scope(db, area_id)) if area_id else None
    words = [w.lower() for w in q.split()[:8]]

    def matches(c: Category) -> bool:
        if is_active is not None and c.is_active != is_active:
            return False
        if scope is not None and not any(a.id in scope for a in c.areas):
            return False
        text = f"{c.code} {c.name} {c.description}".lower()
        return all(w in text for w in words)

    filtered = scope is not None or is_active is not None or bool(words)
    ids = {c.id for c in rows}
    by_parent: dict[str | None, list[Category]] = {}
    for c in rows:
        by_parent.setdefault(c.parent_id if c.parent_id in ids else None, []).append(c)

    def build(parent: str | None, depth: int) -> list[TreeNode]:
        out = []
        for c in sorted(by_parent.get(parent, []), key=lambda x: (x.sort_order, x.code.lower())):
            node = TreeNode(c, depth, matches(c) if filtered else True, build(c.id, depth + 1))
            if node.matched or node.children:
                out.append(node)
        return out

    return build(None, 0)


def walk(nodes: list[TreeNode]):
    """Depth-first, parents before children (for indented lists and pickers)."""
    for n in nodes:
        yield n
        yield from walk(n.children)


def _check_category_code(db: Session, org_id: str, code: str, exclude: str | None = None) -> None:
    stmt = select(Category.id).where(Category.organization_id == org_id,
                                     func.lower(Category.code) == code.lower())
    if exclude:
        stmt = stmt.where(Category.id != exclude)
    if db.scalar(stmt):
        raise Conflict("Mã lĩnh vực đã tồn tại trong tổ chức.",
                       [{"field": "code", "message": "Mã lĩnh vực đã tồn tại."}])


def _check_parent(db: Session, org_id: str, parent_id: str, category: Category | None = None) -> Category:
    parent = db.get(Category, parent_id)
    if parent is None or parent.organization_id != org_id:
        raise ValidationFailed.field("parent_id", "Lĩnh vực cha không tồn tại trong tổ chức.")
    node, seen = parent, set()
    while node is not None and category is not None and node.id not in seen:
        if node.id == category.id:
            raise ValidationFailed.field("parent_id", "Không thể chọn chính lĩnh vực này hoặc lĩnh vực con "
                                                      "của nó làm lĩnh vực cha.")
        seen.add(node.id)
        node = node.parent
    return parent


def create_category(db: Session, p: Principal, data: S.CategoryIn) -> Category:
    org_id = category_organization(db, p, data.organization_id)
    parent = _check_parent(db, org_id, data.parent_id) if data.parent_id else None
    _check_category_code(db, org_id, data.code)
    c = Category(id=new_id(), organization_id=org_id, code=data.code, name=data.name,
                 description=data.description, parent_id=parent.id if parent else None,
                 sort_order=data.sort_order, is_active=data.is_active, areas=areas_by_ids(db, data.area_ids))
    db.add(c)
    db.flush()
    record(db, p, "category.created", "category", c.id, after=category_snapshot(c), organization_id=org_id,
           summary=f"Tạo lĩnh vực {c.code} – {c.name}")
    return c


def update_category(db: Session, p: Principal, category_id: str, data: S.CategoryPatch) -> Category:
    c = get_category(db, p, category_id)
    before = category_snapshot(c)
    if data.code is not None and data.code != c.code:
        _check_category_code(db, c.organization_id, data.code, exclude=c.id)
        c.code = data.code
    if data.name is not None:
        c.name = data.name
    if data.description is not None:
        c.description = data.description
    if data.sort_order is not None:
        c.sort_order = data.sort_order
    if data.is_active is not None:
        c.is_active = data.is_active
    if data.area_ids is not None:
        c.areas = areas_by_ids(db, data.area_ids)
    if "parent_id" in data.model_fields_set and data.parent_id != c.parent_id:
        c.parent_id = _check_parent(db, c.organization_id, data.parent_id, c).id if data.parent_id else None
    db.flush()
    record(db, p, "category.updated", "category", c.id, before=before, after=category_snapshot(c),
           organization_id=c.organization_id, summary=f"Sửa lĩnh vực {c.code}")
    return c


def child_counts(db: Session, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    return dict(db.execute(select(Category.parent_id, func.count()).where(Category.parent_id.in_(ids))
                           .group_by(Category.parent_id)).tuples().all())


def subtree(db: Session, c: Category) -> list[tuple[Category, int]]:
    """The category and all its descendants with their depth below it, breadth first."""
    out, frontier, depth = [(c, 0)], [c.id], 0
    while frontier:
        depth += 1
        kids = list(db.scalars(select(Category).where(Category.parent_id.in_(frontier))))
        out += [(k, depth) for k in kids]
        frontier = [k.id for k in kids]
    return out


@dataclass
class DeleteOutcome:
    result: str  # deleted | retired
    message: str
    ids: list[str]


def _after_commit(db: Session, fn) -> None:
    """Run ``fn`` (file clean-up) once the transaction commits; a rollback forgets it."""
    if "catalog.after_commit" not in db.info:
        db.info["catalog.after_commit"] = []
        event.listen(db, "after_commit", _run_pending)
        event.listen(db, "after_rollback", _drop_pending)
    db.info["catalog.after_commit"].append(fn)


def _run_pending(db: Session) -> None:
    pending, db.info["catalog.after_commit"] = db.info["catalog.after_commit"], []
    for fn in pending:
        try:
            fn()
        except OSError:
            pass


def _drop_pending(db: Session) -> None:
    db.info["catalog.after_commit"] = []


def delete_category(db: Session, p: Principal, category_id: str, *, confirm_children: bool = False,
                    icons_dir: Path | None = None) -> DeleteOutcome:
    """CRM-25. A parent needs a second confirmation and then goes with its subtree; anything used by a
    report is retired (is_active = false) instead of erased, so the reports keep their category."""
    c = get_category(db, p, category_id)
    tree = subtree(db, c)
    ids = [x.id for x, _ in tree]
    kids = len(tree) - 1
    if kids and not confirm_children:
        raise Conflict(f"Lĩnh vực {c.code} – {c.name} có {kids} lĩnh vực con. Xóa lĩnh vực cha sẽ xóa cả các "
                       f"lĩnh vực con: hãy xác nhận lần hai (confirm_children=true) để tiếp tục.")
    used = set(db.scalars(select(Report.category_id).where(Report.category_id.in_(ids)).distinct()))
    if used:
        for x, _ in tree:
            if x.is_active:
                before = category_snapshot(x)
                x.is_active = False
                record(db, p, "category.retired", "category", x.id, before=before, after=category_snapshot(x),
                       organization_id=x.organization_id,
                       summary=f"Ngừng sử dụng lĩnh vực {x.code} (đang có phản ánh)")
        codes = ", ".join(sorted(x.code for x, _ in tree if x.id in used))
        msg = (f"Lĩnh vực {codes} đang được dùng bởi phản ánh nên không xóa: "
               + (f"{c.code} và {kids} lĩnh vực con đã chuyển sang ngừng sử dụng." if kids
                  else f"{c.code} đã chuyển sang ngừng sử dụng."))
        db.flush()
        return DeleteOutcome("retired", msg, ids)
    icons = [x.icon for x, _ in tree if x.icon]
    for x, _ in sorted(tree, key=lambda t: -t[1]):  # children before their parents
        record(db, p, "category.deleted", "category", x.id, before=category_snapshot(x),
               organization_id=x.organization_id, summary=f"Xóa lĩnh vực {x.code} – {x.name}")
        db.delete(x)
        db.flush()
    if icons_dir is not None and icons:
        _after_commit(db, lambda: [_unlink(icons_dir, name) for name in icons])  # type: ignore[func-returns-value]
    msg = f"Đã xóa lĩnh vực {c.code}" + (f" và {kids} lĩnh vực con." if kids else ".")
    return DeleteOutcome("deleted", msg, ids)


# --- icons --------------------------------------------------------------------------------------
MAX_ICON_BYTES = 512 * 1024
ICON_TYPES = {"png": "image/png", "jpg": "image/jpeg", "svg": "image/svg+xml", "webp": "image/webp"}
ICON_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg|svg|webp)$")
_SVG_PROLOG = re.compile(r"^(\s+|<\?xml[^>]*\?>|<!--.*?-->|<!DOCTYPE\s+svg[^>]*>)", re.S | re.I)
_SVG_UNSAFE = re.compile(r"<script|<foreignobject|javascript:|<!entity|\son[a-z]+\s*=", re.I)


def sniff_icon(content: bytes) -> str | None:
    """The image kind judged from the bytes themselves (magic numbers; SVG by its root element)."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "webp"
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    head, prev = text[:4096], None
    while head != prev:
        prev, head = head, _SVG_PROLOG.sub("", head, count=1)
    return "svg" if re.match(r"<svg[\s>/]", head) else None


def _unlink(icons_dir: Path, name: str) -> None:
    if ICON_NAME.match(name):
        (icons_dir / name).unlink(missing_ok=True)


def set_icon(db: Session, p: Principal, category_id: str, content: bytes, icons_dir: Path) -> Category:
    c = get_category(db, p, category_id)
    if not content:
        raise ValidationFailed.field("file", "Chưa chọn tệp biểu tượng.")
    if len(content) > MAX_ICON_BYTES:
        raise PayloadTooLarge("Biểu tượng tối đa 512 KB.")
    kind = sniff_icon(content)
    if kind is None:
        raise UnsupportedMediaType("Biểu tượng phải là ảnh PNG, JPEG, SVG hoặc WebP (kiểm tra theo nội dung "
                                   "tệp, không theo phần mở rộng).")
    if kind == "svg" and _SVG_UNSAFE.search(content.decode("utf-8-sig")):
        raise UnsupportedMediaType("Tệp SVG chứa mã kịch bản hoặc nội dung nhúng không an toàn.")
    icons_dir.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{kind}"
    (icons_dir / name).write_bytes(content)
    before, old = category_snapshot(c), c.icon
    c.icon = name
    db.flush()
    record(db, p, "category.icon_changed", "category", c.id, before=before, after=category_snapshot(c),
           organization_id=c.organization_id, summary=f"Đổi biểu tượng lĩnh vực {c.code}")
    if old:
        _after_commit(db, lambda: _unlink(icons_dir, old))
    return c


def icon_file(db: Session, p: Principal, category_id: str, icons_dir: Path) -> tuple[Path, str]:
    c = get_category(db, p, category_id)
    path = icons_dir / c.icon if c.icon and ICON_NAME.match(c.icon) else None
    if path is None or not path.is_file():
        raise NotFound("Lĩnh vực chưa có biểu tượng.")
    return path, ICON_TYPES[c.icon.rsplit(".", 1)[1]]


# --- CSV import (CRM-21) ------------------------------------------------------------------------
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
IMPORT_COLUMNS = ("code", "name", "parent_code", "description", "area_codes")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class ImportRejected(ValidationFailed):
    """Some rows are bad: nothing was imported. ``rows`` lists [{row, code, reason}]."""

    def __init__(self, rows: list[dict]):
        n = len({r["row"] for r in rows})
        super().__init__(f"Tệp có {n} dòng không hợp lệ; chưa nhập lĩnh vực nào. Hãy sửa các dòng được "
                         "liệt kê rồi nhập lại.",
                         [{"field": f"dòng {r['row']}", "message": r["reason"]} for r in rows[:200]])
        self.rows = rows


@dataclass
class ImportedCategory:
    row: int
    category: Category
    parent_code: str


def _read_csv(content: bytes) -> list[tuple[int, dict[str, str]]]:
    if len(content) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge("Tệp CSV tối đa 2 MB.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed.field("file", "Tệp phải là CSV mã hóa UTF-8.") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if not {"code", "name"} <= set(header):
            raise ValidationFailed.field("file", "Thiếu cột bắt buộc code, name. Dòng đầu của tệp phải là "
                                                 "tiêu đề: " + ",".join(IMPORT_COLUMNS) + ".")
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            rows.append((reader.line_num, {h: (cells[i].strip() if i < len(cells) else "")
                                           for i, h in enumerate(header) if h in IMPORT_COLUMNS}))
            if len(rows) > MAX_IMPORT_ROWS:
                raise ValidationFailed.field("file", f"Mỗi lần nhập tối đa {MAX_IMPORT_ROWS} dòng.")
    except csv.Error as e:
        msg = f"Tệp CSV sai định dạng (dòng {reader.line_num}): {e}."
        raise ValidationFailed.field("file", msg) from None
    if not rows:
        raise ValidationFailed.field("file", "Tệp không có dòng dữ liệu nào.")
    return rows


def import_categories(db: Session, p: Principal, content: bytes, *, organization_id: str | None = None,
                      scheme: str = "2025") -> list[ImportedCategory]:
    """Validate every row first; import all of them in this transaction, or none (ImportRejected)."""
    org_id = category_organization(db, p, organization_id)
    rows = _read_csv(content)
    existing = {c.code.lower(): c
                for c in db.scalars(select(Category).where(Category.organization_id == org_id))}
    wanted = {code for _, r in rows for code in _split(r.get("area_codes", ""))}
    areas: dict[str, Area] = {}
    chunk = sorted(wanted)
    for i in range(0, len(chunk), 500):
        areas.update({a.code: a for a in db.scalars(select(Area).where(Area.scheme == scheme,
                                                                       Area.code.in_(chunk[i:i + 500])))})
    later = {r.get("code", "").lower(): n for n, r in rows}
    seen: dict[str, int] = {}
    rejected: list[dict] = []
    for n, r in rows:
        code, name, parent = r.get("code", ""), r.get("name", ""), r.get("parent_code", "")
        problems: list[str] = []
        bad = problems.append

        if any("\x00" in v for v in r.values()):
            rejected.append({"row": n, "code": code.replace("\x00", ""),
                             "reason": "Dòng chứa ký tự NUL không hợp lệ."})
            continue
        if not code:
            bad("Thiếu mã lĩnh vực (cột code).")
        elif len(code) > 50:
            bad("Mã lĩnh vực tối đa 50 ký tự.")
        elif not _CODE.match(code):
            bad("Mã lĩnh vực chỉ gồm chữ không dấu, chữ số và . _ - (bắt đầu bằng chữ hoặc số).")
        elif code.lower() in seen:
            bad(f"Mã {code} trùng với dòng {seen[code.lower()]} trong tệp.")
        elif code.lower() in existing:
            bad(f"Mã {code} đã có trong danh mục lĩnh vực của tổ chức.")
        if not name:
            bad("Thiếu tên lĩnh vực (cột name).")
        elif len(name) > 200:
            bad("Tên lĩnh vực tối đa 200 ký tự.")
        if len(r.get("description", "")) > 2000:
            bad("Mô tả tối đa 2000 ký tự.")
        if parent:
            if parent.lower() == code.lower():
                bad("Lĩnh vực không thể là lĩnh vực cha của chính nó.")
            elif parent.lower() not in seen and parent.lower() not in existing:
                if later.get(parent.lower(), 0) > n:
                    bad(f"Lĩnh vực cha {parent} phải đứng trước dòng này trong tệp.")
                else:
                    bad(f"Không tìm thấy lĩnh vực cha {parent} (trong tệp hoặc trong danh mục).")
        unknown = [a for a in _split(r.get("area_codes", "")) if a not in areas]
        if unknown:
            bad(f"Không tìm thấy khu vực có mã {', '.join(unknown[:10])} ({SCHEME_LABELS[scheme].lower()}).")
        rejected += [{"row": n, "code": code, "reason": reason} for reason in problems]
        if code and code.lower() not in seen:
            seen[code.lower()] = n
    if rejected:
        raise ImportRejected(rejected)
    created: dict[str, Category] = {}
    out = []
    for n, r in rows:
        parent_code = r.get("parent_code", "")
        key = parent_code.lower()
        parent = (created.get(key) or existing.get(key)) if parent_code else None
        c = Category(id=new_id(), organization_id=org_id, code=r["code"], name=r["name"],
                     description=r.get("description", ""), parent=parent, sort_order=len(out) * 10,
                     areas=sorted({areas[a] for a in _split(r.get("area_codes", ""))}, key=lambda a: a.code))
        db.add(c)
        created[c.code.lower()] = c
        out.append(ImportedCategory(n, c, parent_code))
    db.flush()
    for item in out:
        c = item.category
        record(db, p, "category.created", "category", c.id, after=category_snapshot(c),
               organization_id=org_id, summary=f"Nhập từ CSV: tạo lĩnh vực {c.code} – {c.name}")
    record(db, p, "category.imported", "category", "", organization_id=org_id,
           summary=f"Nhập {len(out)} lĩnh vực từ tệp CSV", after={"codes": [i.category.code for i in out]})
    return out


def _split(value: str) -> list[str]:
    return list(dict.fromkeys(x.strip() for x in value.split(";") if x.strip()))
