"""Writing and reading the audit log. ``record`` is called by every service that changes data,
inside the same transaction as the change."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.audit.models import AuditEntry
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.identity.principal import Principal

SECRET_FIELDS = {"password", "password_hash", "secret", "token", "token_hash", "code_hash", "csrf_token"}


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def snapshot(obj: Any, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """A JSON-safe copy of chosen attributes, with secrets masked."""
    out = {}
    for f in fields:
        v = getattr(obj, f, None)
        out[f] = "***" if f in SECRET_FIELDS and v else _plain(v)
    return out


def record(
    db: Session,
    actor: Principal | None,
    action: str,
    entity_type: str,
    entity_id: str = "",
    *,
    before: dict | None = None,
    after: dict | None = None,
    summary: str = "",
    organization_id: str | None = None,
    actor_name: str = "",
    ip: str = "",
) -> AuditEntry:
    if before is not None and after is not None:
        # keep only what changed, so the log reads as a diff
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        before = {k: before.get(k) for k in changed}
        after = {k: after.get(k) for k in changed}
    entry = AuditEntry(
        actor_id=actor.user_id if actor else None,
        actor_name=actor_name or (actor.username if actor else "hệ thống"),
        organization_id=organization_id if organization_id is not None else (actor.organization_id if actor else None),
        action=action,
        entity_type=entity_type,
        entity_id=entity_id or "",
        summary=summary[:500],
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
        ip=ip or (actor.ip if actor else ""),
    )
    db.add(entry)
    return entry


def list_entries(
    db: Session,
    principal: Principal,
    params: ListParams,
    *,
    action: str = "",
    entity_type: str = "",
    entity_id: str = "",
    actor_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    organization_id: str = "",
) -> Page:
    stmt = select(AuditEntry)
    if not principal.is_sysadmin:
        stmt = stmt.where(AuditEntry.organization_id == principal.organization_id)
    elif organization_id:
        stmt = stmt.where(AuditEntry.organization_id == organization_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if entity_type:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    if params.q:
        stmt = apply_search(stmt, params.q, [AuditEntry.summary, AuditEntry.actor_name, AuditEntry.entity_id])
    sortable = {"at": AuditEntry.at, "action": AuditEntry.action, "entity_type": AuditEntry.entity_type,
                "actor_name": AuditEntry.actor_name}
    return paginate(db, stmt, params, sortable, "-at")


def distinct_values(db: Session, principal: Principal, column: str) -> list[str]:
    col = getattr(AuditEntry, column)
    stmt = select(col).distinct().order_by(col)
    if not principal.is_sysadmin:
        stmt = stmt.where(AuditEntry.organization_id == principal.organization_id)
    return [v for v in db.scalars(stmt).all() if v]
