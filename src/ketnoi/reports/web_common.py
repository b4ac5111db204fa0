"""Helpers shared by the citizen-report console pages (reports/web*.py): option lists of organizations,
categories and units as trees, provinces and their wards for the area pickers, area labels (CRM-11, 37)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ketnoi.catalog.models import Area, Category
from ketnoi.identity.models import Department, Organization

SECTION = "Phản ánh, kiến nghị"
SCHEME_LABELS = {"2025": "Đơn vị hành chính từ 2025", "legacy": "Đơn vị hành chính trước 2025"}
STALE = "Phản ánh vừa được người khác cập nhật; hãy tải lại trang rồi thử lại."


def _tree(rows: list, key=lambda x: x.code.lower()) -> list[tuple[Any, int]]:
    """Rows with ``id``/``parent_id`` in tree order with their depth (parents before children)."""
    ids = {r.id for r in rows}
    children: dict[str | None, list] = {}
    for r in rows:
        children.setdefault(r.parent_id if r.parent_id in ids else None, []).append(r)
    out: list[tuple[Any, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children.get(parent, []), key=key):
            out.append((r, depth))
            walk(r.id, depth + 1)

    walk(None, 0)
    return out


def _org_codes(db) -> dict[str, str]:
    return {o.id: o.code for o in db.scalars(select(Organization))}


def org_options(db) -> list[tuple[str, str]]:
    return [(o.id, f"{o.code} – {o.name}") for o in db.scalars(select(Organization).order_by(Organization.code))]


def category_options(db, org_id: str | None, keep: str | None = None) -> list[tuple[str, str]]:
    """Active categories of the organization (all organizations for a system administrator), as a tree."""
    stmt = select(Category)
    if org_id:
        stmt = stmt.where(Category.organization_id == org_id)
    orgs = {} if org_id else _org_codes(db)
    out = []
    for c, depth in _tree(list(db.scalars(stmt)), key=lambda c: (c.sort_order, c.code.lower())):
        if c.is_active or c.id == keep:
            prefix = f"[{orgs.get(c.organization_id, '')}] " if orgs and depth == 0 else ""
            out.append((c.id, "— " * depth + prefix + c.name + ("" if c.is_active else " (ngừng sử dụng)")))
    return out


def unit_options(db, org_id: str | None, *, under: str = "", exclude: tuple = ()) -> list[tuple[str, str]]:
    stmt = select(Department).where(Department.is_active.is_(True))
    if org_id:
        stmt = stmt.where(Department.organization_id == org_id)
    if under:
        stmt = stmt.where(Department.path.startswith(under))
    orgs = {} if org_id else _org_codes(db)
    return [(d.id, "— " * depth + (f"[{orgs.get(d.organization_id, '')}] " if orgs and depth == 0 else "")
             + f"{d.code} – {d.name}") for d, depth in _tree(list(db.scalars(stmt))) if d.id not in exclude]


def provinces(db) -> list[tuple[str, list[tuple[str, str]]]]:
    rows = db.scalars(select(Area).where(Area.parent_id.is_(None), Area.is_active.is_(True))
                      .order_by(Area.scheme, Area.code)).all()
    groups: dict[str, list[tuple[str, str]]] = {}
    for a in rows:
        groups.setdefault(a.scheme, []).append((a.id, a.name))
    return [(SCHEME_LABELS.get(s, s), opts) for s, opts in sorted(groups.items())]


@dataclass
class _AreaNode:
    id: str
    parent_id: str | None  # None for the province's own children: the roots of the picker's tree
    area: Area


def area_descendants(db, province_id: str | None) -> list[tuple[str, str]]:
    """Districts and wards of a province, indented, for the pickers."""
    prov = db.get(Area, province_id) if province_id else None
    if prov is None or prov.parent_id is not None:
        return []
    inside = Area.path.startswith(prov.path) if prov.path else Area.parent_id == prov.id
    rows = list(db.scalars(select(Area).where(inside, Area.id != prov.id, Area.is_active.is_(True))))
    tree = _tree([_AreaNode(a.id, None if a.parent_id == prov.id else a.parent_id, a) for a in rows],
                 key=lambda n: n.area.code)
    return [(n.id, "— " * depth + n.area.name) for n, depth in tree]


def area_label(db, area_id: str | None) -> str:
    a = db.get(Area, area_id) if area_id else None
    if a is None:
        return ""
    ids = [i for i in a.path.strip("/").split("/") if i] or [a.id]
    by_id = {x.id: x.name for x in db.scalars(select(Area).where(Area.id.in_(ids)))}
    return ", ".join(by_id[i] for i in reversed(ids) if i in by_id)


def names(db, model, ids) -> dict[str, Any]:
    ids = {i for i in ids if i}
    return {x.id: x for x in db.scalars(select(model).where(model.id.in_(ids)))} if ids else {}
