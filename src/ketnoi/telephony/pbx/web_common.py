"""Helpers shared by the PBX console pages: the organization a page works in, the 'unapplied changes'
banner with its Apply button, form rendering, and turning form text (one item per line) into lists."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from ketnoi.core.errors import DomainError
from ketnoi.identity.models import Organization
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import service
from ketnoi.web.crud import Filter
from ketnoi.web.pages import render

SECTION = "Tổng đài"
YES_NO = [("1", "Đang bật"), ("0", "Đang tắt")]
CODEC_CHOICES = [("PCMA,PCMU", "G.711 A-law rồi µ-law (PCMA, PCMU)"), ("PCMU,PCMA", "G.711 µ-law rồi A-law (PCMU, PCMA)"),
                 ("PCMA", "Chỉ G.711 A-law (PCMA)"), ("PCMU", "Chỉ G.711 µ-law (PCMU)")]


def org_options(db) -> list[tuple[str, str]]:
    return [(o.id, f"{o.code} – {o.name}") for o in db.scalars(select(Organization).order_by(Organization.code))]


def org_scope(request: Request, db, p: Principal) -> str:
    """One's own organization; a system administrator picks one (?organization_id=, the first by default)."""
    if not p.is_sysadmin:
        return p.organization_id or ""
    chosen = request.query_params.get("organization_id", "")[:64]
    options = org_options(db)
    return chosen if chosen in {o for o, _ in options} else (options[0][0] if options else "")


def done(url: str, msg: str, error: bool = False) -> RedirectResponse:
    key = "err" if error else "msg"
    return RedirectResponse(f"{url}{'&' if '?' in url else '?'}{key}={quote(msg[:300])}", status_code=303)


def banner(request: Request, db, p: Principal, org_id: str) -> dict[str, Any]:
    """Context for pbx_banner.html: unapplied changes and whether this user may apply them."""
    if not org_id:
        return {"pbx_status": None}
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {"pbx_status": service.status(db, org_id), "can_apply": p.has("telephony.apply"),
            "apply_action": "/telephony/apply?" + urlencode({"organization_id": org_id, "next": back}),
            "orgs": org_options(db) if p.is_sysadmin else [], "org_id": org_id}


def page(request: Request, db, p: Principal, template: str, org_id: str, status: int = 200, **ctx: Any):
    return render(request, template, p, status=status, section=SECTION, **banner(request, db, p, org_id), **ctx)


def form(request, db, p, org_id, title, fields, values, action, cancel, errors=None, form_error="", status=200,
         extras=None, notice="", template="pbx_form.html", **ctx):
    return page(request, db, p, template, org_id, status=status, title=title, fields=fields, values=values,
                errors=errors or {}, form_error=form_error, action=action, cancel_url=cancel, extras=extras or [],
                notice=notice, **ctx)


def org_filter(db, p: Principal) -> list[Filter]:
    """The organization filter of a list, for a system administrator only."""
    return [Filter("organization_id", "Tổ chức", org_options(db))] if p.is_sysadmin else []


def list_page(request, db, p, org_id, title, page_obj, rows, columns, sort, new_url, can_write, hint,
              filters=(), links=()):
    """pbx_list.html with the organization filter first, row actions and the 'new' button when writable."""
    return page(request, db, p, "pbx_list.html", org_id, title=title, page=page_obj, rows=rows,
                columns=columns, sort=sort, row_actions=can_write, new_url=new_url if can_write else "",
                search_hint=hint,
                filters=org_filter(db, p) + list(filters), extra_links=list(links), org_switch=False)


def delete_then_back(db, p: Principal, list_url: str, org_id: str, delete: Callable[[], object],
                     message: str) -> RedirectResponse:
    """Runs ``delete()``; back to the list with ``message``, or with the reason it was refused."""
    back = with_org(list_url, p, org_id)
    try:
        delete()
    except DomainError as exc:
        db.rollback()
        return done(back, "Không xóa được: " + exc.detail, error=True)
    return done(back, message)


def lines(text: Any) -> list[str]:
    """A textarea's items: one per line (commas and semicolons also separate)."""
    return [x.strip() for x in re.split(r"[\n,;]+", str(text or "")) if x.strip()]


def codecs_in(value: Any) -> list[str]:
    return [c for c in str(value or "").split(",") if c]


def with_org(url: str, p: Principal, org_id: str) -> str:
    if not p.is_sysadmin or not org_id:
        return url
    return f"{url}{'&' if '?' in url else '?'}organization_id={org_id}"
