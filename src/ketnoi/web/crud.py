"""Declarative list pages and forms for the console: a page declares its columns, filters and
fields; the shared templates render search, filters, sorting, paging and inline validation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError

from ketnoi.core.errors import DomainError
from ketnoi.core.listing import MAX_PAGE_SIZE, ListParams
from ketnoi.web.problems import validation_errors


@dataclass
class Field:
    name: str
    label: str
    kind: str = "text"  # text|password|email|tel|number|textarea|select|multiselect|checkbox|datetime-local
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    help: str = ""
    readonly: bool = False
    wide: bool = False
    default: Any = None
    maxlength: int | None = None


@dataclass
class Filter:
    name: str
    label: str
    options: list[tuple[str, str]]


@dataclass
class Action:
    label: str
    url: str
    method: str = "get"
    confirm: str = ""
    confirm2: str = ""
    cls: str = ""


@dataclass
class Row:
    cells: list[Any]
    url: str = ""
    actions: list[Action] = field(default_factory=list)


@dataclass
class Column:
    label: str
    sort: str | None = None


def list_params(request: Request, default_size: int = 20) -> ListParams:
    qp = request.query_params

    def num(name: str, default: int, hi: int) -> int:
        try:
            return min(max(1, int(qp.get(name, default))), hi)
        except ValueError:
            return default

    return ListParams(page=num("page", 1, 10**6), page_size=num("page_size", default_size, MAX_PAGE_SIZE),
                      sort=qp.get("sort", "")[:40], q=qp.get("q", "")[:200])


def bool_filter(value: str | None) -> bool | None:
    return {"1": True, "true": True, "0": False, "false": False}.get((value or "").lower())


async def form_data(request: Request, fields: list[Field]) -> dict[str, Any]:
    """Form values typed for the pydantic input models: checkboxes → bool, multiselect → list,
    an empty optional select → None."""
    form = await request.form()
    out: dict[str, Any] = {}
    for f in fields:
        if f.readonly:
            continue
        if f.kind == "checkbox":
            out[f.name] = form.get(f.name) == "1"
        elif f.kind == "multiselect":
            out[f.name] = [str(v) for v in form.getlist(f.name)]
        else:
            v = form.get(f.name)
            v = "" if v is None else str(v)
            if f.kind == "select" and v == "":
                out[f.name] = None
            elif f.kind == "number" and v != "":
                out[f.name] = v
            else:
                out[f.name] = v
    return out


def field_errors(exc: Exception) -> tuple[dict[str, str], str]:
    """Per-field messages and a summary line for re-rendering a form."""
    if isinstance(exc, ValidationError):
        errs = validation_errors(list(exc.errors()))
    elif isinstance(exc, DomainError):
        errs = exc.errors
        if not errs:
            return {}, exc.detail
    else:
        raise exc
    out: dict[str, str] = {}
    for e in errs:
        out.setdefault(e["field"], e["message"])
    return out, "Vui lòng kiểm tra lại các trường được đánh dấu."


def parse(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    return model.model_validate(data)


def options(rows, value: Callable[[Any], str] = lambda r: r.id,
            label: Callable[[Any], str] = lambda r: f"{r.code} – {r.name}") -> list[tuple[str, str]]:
    return [(value(r), label(r)) for r in rows]
