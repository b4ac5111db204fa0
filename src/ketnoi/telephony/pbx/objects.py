"""Service shapes every PBX object shares (CC-06, 09…12, 14): the list of an organization with search,
filters, sort and paging; "this name is taken"; and staging a change with its audit row (every change
bumps the staged revision, service.touch, in the same transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record
from ketnoi.core.errors import Conflict
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import service


@dataclass(frozen=True)
class Listing:
    """How one kind of object is listed: searched columns, sortable columns and the default sort."""

    model: type
    search: Sequence[Any]
    sortable: dict[str, Any]
    default_sort: str
    filters: Sequence[str] = field(default=())  # column names filtered on equality when given

    def page(self, db: Session, p: Principal, params: ListParams, organization_id: str = "", **filters: Any) -> Page:
        """Objects the actor sees (service.list_scope); a filter given as None or "" is not applied."""
        stmt = select(self.model)
        org = service.list_scope(p, organization_id)
        if org:
            stmt = stmt.where(self.model.organization_id == org)
        for name in self.filters:
            value = filters.get(name)
            if value is not None and value != "":
                stmt = stmt.where(getattr(self.model, name) == value)
        if params.q:
            stmt = apply_search(stmt, params.q, list(self.search))
        return paginate(db, stmt, params, self.sortable, self.default_sort)


def ensure_unique(db: Session, column, org_id: str, value: str, message: str, *, exclude: str | None = None,
                  field: str = "name", ignore_case: bool = True) -> None:
    """409 with ``message`` on ``field`` when another object of the organization has this value."""
    model = column.class_
    stmt = select(model.id).where(model.organization_id == org_id,
                                  func.lower(column) == value.lower() if ignore_case else column == value)
    if exclude:
        stmt = stmt.where(model.id != exclude)
    if db.scalar(stmt):
        raise Conflict(message, [{"field": field, "message": message}])


@dataclass(frozen=True)
class Audited:
    """The audit names of one kind of object: actions ``pbx.<prefix>_<verb>`` on entity ``entity``."""

    prefix: str
    entity: str

    def created(self, db: Session, p: Principal, obj, after: dict, summary: str, *, verb: str = "created") -> None:
        """A new object: stored, staged, audited."""
        db.add(obj)
        db.flush()
        service.touch(db, obj.organization_id)
        record(db, p, f"pbx.{self.prefix}_{verb}", self.entity, obj.id, after=after,
               organization_id=obj.organization_id, summary=summary)

    def updated(self, db: Session, p: Principal, obj, before: dict, after: dict, summary: str, *,
                changed: bool = False, verb: str = "updated") -> bool:
        """Staged and audited only when something changed (``changed`` for what snapshots hide,
        such as a new secret). Returns whether it did."""
        if after == before and not changed:
            return False
        service.touch(db, obj.organization_id)
        record(db, p, f"pbx.{self.prefix}_{verb}", self.entity, obj.id, before=before, after=after,
               organization_id=obj.organization_id, summary=summary)
        return True

    def deleted(self, db: Session, p: Principal, obj, before: dict, summary: str) -> None:
        """Audited, removed, staged."""
        org_id = obj.organization_id
        record(db, p, f"pbx.{self.prefix}_deleted", self.entity, obj.id, before=before, organization_id=org_id,
               summary=summary)
        db.delete(obj)
        db.flush()
        service.touch(db, org_id)
