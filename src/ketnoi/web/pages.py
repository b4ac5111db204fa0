"""Console rendering: one Jinja2 environment over every domain's templates, the role-built menu,
and the helpers list pages and forms share."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from ketnoi.core.listing import PAGE_SIZES
from ketnoi.identity.permissions import CATALOG
from ketnoi.identity.principal import Principal
from ketnoi.settings import get_settings

PKG = Path(__file__).resolve().parent.parent
# domain packages keep templates beside their code, one or two levels down (catalog/, telephony/pbx/)
TEMPLATE_DIRS = [PKG / "web" / "templates"] + sorted(p for p in (*PKG.glob("*/templates"), *PKG.glob("*/*/templates"))
                                                     if p.parent.name != "web")


def _local(dt: datetime | None, fmt: str = "%H:%M %d/%m/%Y") -> str:
    if dt is None:
        return ""
    return dt.astimezone(ZoneInfo(get_settings().timezone)).strftime(fmt)


def _query(request: Request, **changes: Any) -> str:
    """The current query string with some parameters changed (for sort links and pagers)."""
    params = dict(request.query_params)
    for k, v in changes.items():
        if v is None or v == "":
            params.pop(k, None)
        else:
            params[k] = str(v)
    return "?" + urlencode(params)


env = Environment(loader=ChoiceLoader([FileSystemLoader(str(d)) for d in TEMPLATE_DIRS]),
                  autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
env.filters["local"] = _local
env.filters["yesno"] = lambda v: "Có" if v else "Không"
env.globals["PAGE_SIZES"] = PAGE_SIZES
env.globals["query"] = _query
templates = Jinja2Templates(env=env)


def menu_for(p: Principal) -> list[dict[str, Any]]:
    """Menu sections built from the role catalogue: an entry shows when the user holds its role."""
    roots = sorted((s for s in CATALOG.values() if s.parent is None), key=lambda s: s.order)
    out = []
    for root in roots:
        children = sorted((s for s in CATALOG.values() if s.parent == root.code and s.menu_url and p.has(s.code)),
                          key=lambda s: s.order)
        if root.menu_url and p.has(root.code):
            out.append({"label": root.name, "url": root.menu_url, "children": []})
        elif children:
            out.append({"label": root.name, "url": "", "children": [{"label": c.name, "url": c.menu_url}
                                                                      for c in children]})
    return out


def render(request: Request, template: str, principal: Principal | None = None, status: int = 200,
           **ctx: Any) -> HTMLResponse:
    flash = request.query_params.get("msg", "")
    context = {
        "request": request,
        "me": principal,
        "menu": menu_for(principal) if principal else [],
        "csrf_token": principal.csrf_token if principal else ctx.pop("csrf_token", ""),
        "flash": flash[:300],
        "path": request.url.path,
        **ctx,
    }
    return templates.TemplateResponse(request, template, context, status_code=status)


def render_error(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    a = getattr(request.state, "auth", None)
    return render(request, "error.html", a.principal if a else None, status=status, title=title, detail=detail)
