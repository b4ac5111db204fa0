"""Route factory of the video switchboard's partner configuration API (VC-11, 17, 18): a configurable
object (hotline, queue, group, agent) is described once; list / create / get / put / patch / delete are made from it.

Every write goes through ``idempotency.run`` scoped to the partner application or the console user, as
``config_api`` documents; PUT replaces the whole object, PATCH merges the given fields into it."""

# No ``from __future__ import annotations`` here: the endpoints' annotations are built at run time and
# FastAPI must see them as objects, not as names to look up in this module.

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.core import idempotency
from ketnoi.core.errors import ValidationFailed
from ketnoi.core.listing import ListParams, apply_search, paginate
from ketnoi.identity.principal import Principal
from ketnoi.videocall import config
from ketnoi.videocall.api import Actor, signed_or_user
from ketnoi.web.deps import DbDep
from ketnoi.web.endpoints import endpoint, param
from ketnoi.web.problems import validation_errors
from ketnoi.web.schemas import Paged, list_query

ConfigActor = Annotated[Actor, signed_or_user("videocall.config")]
Patch = Annotated[dict[str, Any], Body(description="Các trường cần đổi; các trường khác giữ nguyên")]
ListQ = Annotated[ListParams, list_query()]
OrgQ = Annotated[str, Query(max_length=64)]
OrgCreateQ = Annotated[str | None, Query(max_length=64)]


def scope_of(actor: Actor) -> str:
    """Idempotency keys belong to the partner application, or to the console user."""
    if actor.partner is not None:
        return f"vc-partner:{actor.partner.id}"
    return f"user:{actor.principal.user_id or actor.principal.username}"


def scoped(stmt, model, p: Principal, organization_id: str):
    """``stmt`` limited to the caller's organization (a system administrator may pick one, or see all)."""
    if not p.is_sysadmin:
        return stmt.where(model.organization_id == p.organization_id)
    return stmt.where(model.organization_id == organization_id) if organization_id else stmt


def merge(model: type[BaseModel], current: dict[str, Any], patch: dict[str, Any]) -> BaseModel:
    """PATCH semantics: ``patch`` over the object's ``current`` input, validated as a whole by ``model``."""
    unknown = sorted(set(patch) - set(model.model_fields))
    if unknown:
        raise ValidationFailed("Trường không được phép: " + ", ".join(unknown) + ".",
                               [{"field": f, "message": "Trường không được phép."} for f in unknown])
    try:
        return model.model_validate({**current, **patch})
    except ValidationError as e:
        errors = validation_errors(list(e.errors()))
        raise ValidationFailed("Dữ liệu không hợp lệ: " + "; ".join(x["message"] for x in errors), errors) from None


@dataclass(frozen=True)
class Filter:
    """A list query parameter matching ``column`` exactly; ignored when absent (None or empty)."""

    name: str
    annotation: Any
    default: Any
    column: Any


@dataclass(frozen=True)
class Resource:
    """One configurable object as the API serves it. Endpoints are named ``list_<many>``, ``create_<one>``,
    ``get_<one>``, ``put_<one>``, ``patch_<one>``, ``delete_<one>`` (the OpenAPI operation ids)."""

    path: str  # "/hotlines"
    id_param: str  # "vc_hotline_id"
    one: str  # "hotline"
    many: str  # "hotlines"
    model: type  # ORM class
    label: str  # the object in "Không tìm thấy <label>."
    out: type[BaseModel]  # response model of one object
    data_in: type[BaseModel]  # body of POST and PUT; PATCH is merged into it
    search: Sequence[Any]  # columns searched by ``q``
    sort: dict[str, Any]  # ``sort`` names → columns
    default_sort: str
    save: Callable[..., Any]  # (db, p, data, object_id=None[, organization_id=…]) → row
    delete: Callable[..., Any]  # (db, p, object_id) → None
    current: Callable[[Session, Any], dict[str, Any]]  # (db, row) → its input, the base of a PATCH
    summaries: dict[str, str]  # list / create / get / put / patch / delete → summary= text
    to_out: Callable[[Session, Any], Any] | None = None  # (db, row) → response; None: the row read through out
    filters: Sequence[Filter] = field(default=())  # list filters after ``active``
    organization_on_create: bool = True  # POST takes ``?organization_id=`` (system administrators)


def add_resource_routes(router: APIRouter, r: Resource) -> None:
    """Register the resource's six endpoints on ``router``: list, create, get, put, patch, delete."""
    request, db, actor, ident = param("request", Request), param("db", DbDep), param("actor", ConfigActor), \
        param(r.id_param, str)
    filters = [Filter("active", bool | None, None, r.model.is_active), *r.filters]

    def wrap(db: Session, row: Any) -> Any:
        return r.to_out(db, row) if r.to_out else row

    def find(db: Session, actor: Actor, object_id: str) -> Any:
        return config._get(db, actor.principal, r.model, object_id, r.label)

    def run_list(db, actor, params, organization_id, **values):
        stmt = scoped(select(r.model), r.model, actor.principal, organization_id)
        for f in filters:
            if values[f.name] is not None and values[f.name] != "":
                stmt = stmt.where(f.column == values[f.name])
        if params.q:
            stmt = apply_search(stmt, params.q, list(r.search))
        page = paginate(db, stmt, params, r.sort, r.default_sort)
        return page.as_dict(lambda row: r.to_out(db, row) if r.to_out else r.out.model_validate(row))

    router.get(r.path, response_model=Paged[r.out], summary=r.summaries["list"])(endpoint(
        f"list_{r.many}", [db, actor, param("params", ListQ), param("organization_id", OrgQ, "")]
        + [param(f.name, f.annotation, f.default) for f in filters], run_list))

    def run_create(request, data, db, actor, organization_id=None):
        extra = {"organization_id": organization_id} if r.organization_on_create else {}
        return idempotency.run(request, db, scope_of(actor), data.model_dump(), lambda: wrap(db, r.save(
            db, actor.principal, data, **extra)), status_code=201, out=r.out)

    create_params = [request, param("data", r.data_in), db, actor]
    if r.organization_on_create:
        create_params.append(param("organization_id", OrgCreateQ, None))
    idem = idempotency.idempotency_doc()  # every write honours Idempotency-Key (VC-11)
    router.post(r.path, response_model=r.out, status_code=201, summary=r.summaries["create"],
                openapi_extra=idem)(endpoint(f"create_{r.one}", create_params, run_create))

    item = f"{r.path}/{{{r.id_param}}}"
    router.get(item, response_model=r.out, summary=r.summaries["get"])(endpoint(
        f"get_{r.one}", [ident, db, actor], lambda db, actor, **kw: wrap(db, find(db, actor, kw[r.id_param]))))

    def run_put(request, data, db, actor, **kw):
        return idempotency.run(request, db, scope_of(actor), data.model_dump(), lambda: wrap(db, r.save(
            db, actor.principal, data, kw[r.id_param])), out=r.out)

    router.put(item, response_model=r.out, summary=r.summaries["put"], openapi_extra=idem)(endpoint(
        f"put_{r.one}", [request, ident, param("data", r.data_in), db, actor], run_put))

    def run_patch(request, patch, db, actor, **kw):
        def run():
            row = find(db, actor, kw[r.id_param])
            return wrap(db, r.save(db, actor.principal, merge(r.data_in, r.current(db, row), patch), row.id))

        return idempotency.run(request, db, scope_of(actor), patch, run, out=r.out)

    router.patch(item, response_model=r.out, summary=r.summaries["patch"], openapi_extra=idem)(endpoint(
        f"patch_{r.one}", [request, ident, param("patch", Patch), db, actor], run_patch))

    def run_delete(request, db, actor, **kw):
        return idempotency.run(request, db, scope_of(actor), None, lambda: r.delete(
            db, actor.principal, kw[r.id_param]), status_code=204)

    router.delete(item, status_code=204, summary=r.summaries["delete"], openapi_extra=idem)(endpoint(
        f"delete_{r.one}", [request, ident, db, actor], run_delete))
