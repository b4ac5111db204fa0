"""Page factory of the PBX console objects (extensions CC-06, trunks CC-09, inbound CC-10 / outbound
CC-11 routes, PIN sets CC-14): row actions of a list, the delete button of a form, "form → save →
redirect with a flash message, or the form again with errors", and the POST routes every object has."""

# No ``from __future__ import annotations``: endpoint signatures are built at run time (see api_objects).

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from ketnoi.core.errors import DomainError
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx.web_common import delete_then_back, done, form, with_org
from ketnoi.web.crud import Action, field_errors
from ketnoi.web.deps import DbDep, console


def row_actions(url: str, confirm: str, *between: Action) -> list[Action]:
    """'Sửa' (the edit page ``url``), any ``between``, then 'Xóa' asking ``confirm``."""
    return [Action("Sửa", url), *between, Action("Xóa", f"{url}/delete", "post", cls="danger", confirm=confirm)]


def delete_button(title: str, url: str, confirm: str) -> dict[str, str]:
    """The delete button under an edit form (``extras=`` of web_common.form)."""
    return {"title": title, "label": "Xóa", "url": f"{url}/delete", "cls": "danger", "confirm": confirm}


def save_or_form(request: Request, db, p: Principal, save: Callable[[], Any], *, org_id: str, title: str, fields,
                 values: dict, action: str, list_url: str, saved: Callable[[Any], str],
                 fix_errors: Callable[[dict], dict] | None = None, hide: tuple[str, ...] = (), **form_ctx: Any):
    """Runs ``save()``: back to ``list_url`` with the flash ``saved(obj)``; when the input or a rule is
    refused, the form again (422) with the messages by field, without the ``hide`` values (secrets)."""
    try:
        obj = save()
    except (ValidationError, DomainError) as exc:
        errors, msg = field_errors(exc)
        db.rollback()
        for name in hide:
            values.pop(name, None)
        return form(request, db, p, org_id, title, fields, values, action, list_url,
                    fix_errors(errors) if fix_errors else errors, msg, 422, **form_ctx)
    return done(with_org(list_url, p, obj.organization_id), saved(obj))


@dataclass(frozen=True)
class ObjectPages:
    """The form actions of one object kind under ``path``: POST new, POST {id} (save) and POST
    {id}/delete, all with the ``perm`` permission."""

    path: str  # "/extensions" (on the /telephony router)
    id_param: str  # "extension_id"
    perm: str  # "telephony.extensions.write"
    get: Callable[..., Any]  # (db, p, id) → row of the actor's organization or 404
    save: Callable[..., Awaitable[Any]]  # (request, db, p, row | None) → response
    delete: Callable[..., Any]  # (db, p, id) → None
    deleted: Callable[[Any], str]  # row → flash message after deleting


def _sig(*params: tuple[str, Any, Any]) -> inspect.Signature:
    return inspect.Signature([inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d)
                              for n, a, d in params])


def _named(fn, name: str, sig: inspect.Signature):
    fn.__name__ = fn.__qualname__ = name
    fn.__signature__ = sig
    return fn


def add_object_pages(router: APIRouter, o: ObjectPages, name: str) -> None:
    """Register the POST routes of ``o``; ``name`` prefixes the endpoint names (``<name>_create`` …)."""
    who, empty = console(o.perm), inspect.Parameter.empty
    ident, request, db, p = (o.id_param, str, empty), ("request", Request, empty), ("db", DbDep, empty), \
        ("p", Principal, who)
    list_url = f"/telephony{o.path}"

    async def create(request, db, p):
        return await o.save(request, db, p)

    async def update(request, db, p, **kw):
        return await o.save(request, db, p, o.get(db, p, kw[o.id_param]))

    def delete(db, p, **kw):
        row = o.get(db, p, kw[o.id_param])
        return delete_then_back(db, p, list_url, row.organization_id, lambda: o.delete(db, p, row.id),
                                o.deleted(row))

    router.post(f"{o.path}/new")(_named(create, f"{name}_create", _sig(request, db, p)))
    router.post(f"{o.path}/{{{o.id_param}}}")(_named(update, f"{name}_update", _sig(ident, request, db, p)))
    router.post(f"{o.path}/{{{o.id_param}}}/delete")(_named(delete, f"{name}_delete", _sig(ident, db, p)))
