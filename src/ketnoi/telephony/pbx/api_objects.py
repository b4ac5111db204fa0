"""Route factory of the PBX JSON API (API.md conventions): an object kind (extensions CC-06, trunks CC-09,
inbound CC-10 / outbound CC-11 routes, PIN sets CC-14, sounds CC-12) declares its path, permission,
models and service functions; list / create / read / update / delete endpoints are made from that."""

# No ``from __future__ import annotations`` here: the endpoints' annotations are built at run time and
# FastAPI must see them as objects, not as names to look up in this module.

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ketnoi.core.listing import ListParams
from ketnoi.identity.principal import Principal
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.endpoints import endpoint, param
from ketnoi.web.schemas import Paged, list_query

ListQ = Annotated[ListParams, list_query()]
OrgQ = Annotated[str, Query(max_length=64, description="Tổ chức (quản trị hệ thống chọn; người khác: của mình)")]
TAGS = ["telephony"]


@dataclass(frozen=True)
class Filter:
    """An extra query parameter of a list, passed by name to the service's list function."""

    name: str
    annotation: Any
    default: Any


@dataclass(frozen=True)
class ObjectApi:
    """One kind of PBX object as the API serves it. Endpoint functions are named ``list_<many>``,
    ``create_<one>``, ``get_<one>``, ``update_<one>``, ``delete_<one>`` (the OpenAPI operation ids)."""

    path: str  # "/extensions"
    id_param: str  # "extension_id"
    perm: str  # "telephony.extensions": ".read" and ".write" are added
    one: str  # "extension"
    many: str  # "extensions"
    out: type  # response model of one object
    to_out: Callable[[Any, Any], Any]  # (db, row) → response
    get: Callable[..., Any]  # (db, p, id) → row of the actor's organization or 404
    list: Callable[..., Any]  # (db, p, params, organization_id=…, **filters) → Page
    summaries: dict[str, str]  # list / create / read / update / delete → summary= text
    filters: Sequence[Filter] = field(default=())
    create: tuple[type, Callable[..., Any]] | None = None  # (input model, (db, p, data) → row)
    update: tuple[type, Callable[..., Any]] | None = None  # (patch model, (db, p, id, data) → row)
    delete: Callable[..., Any] | None = None  # (db, p, id) → None


def add_object_routes(router: APIRouter, o: ObjectApi) -> None:
    """Register the object's endpoints on ``router`` in the order list, create, read, update, delete."""
    read, write = requires(f"{o.perm}.read"), requires(f"{o.perm}.write")
    ident = param(o.id_param, str)
    db, who_reads, who_writes = param("db", DbDep), param("p", Principal, read), param("p", Principal, write)

    def run_list(db, params, organization_id, p, **filters):
        page = o.list(db, p, params, organization_id=organization_id, **filters)
        return page.as_dict(lambda row: o.to_out(db, row))

    router.get(o.path, response_model=Paged[o.out], tags=TAGS, summary=o.summaries["list"])(endpoint(
        f"list_{o.many}", [db, param("params", ListQ), param("organization_id", OrgQ, "")]
        + [param(f.name, f.annotation, f.default) for f in o.filters] + [who_reads], run_list))

    if o.create:
        model, create = o.create
        router.post(o.path, response_model=o.out, status_code=201, tags=TAGS, summary=o.summaries["create"])(
            endpoint(f"create_{o.one}", [param("data", model), db, who_writes],
                      lambda data, db, p: o.to_out(db, create(db, p, data))))

    item = f"{o.path}/{{{o.id_param}}}"
    router.get(item, response_model=o.out, tags=TAGS, summary=o.summaries["read"])(endpoint(
        f"get_{o.one}", [ident, db, who_reads], lambda db, p, **kw: o.to_out(db, o.get(db, p, kw[o.id_param]))))

    if o.update:
        model, update = o.update
        router.patch(item, response_model=o.out, tags=TAGS, summary=o.summaries["update"])(endpoint(
            f"update_{o.one}", [ident, param("data", model), db, who_writes],
            lambda data, db, p, **kw: o.to_out(db, update(db, p, kw[o.id_param], data))))

    if o.delete:
        remove = o.delete

        def run_delete(db, p, **kw):
            remove(db, p, kw[o.id_param])
            return Response(status_code=204)

        router.delete(item, status_code=204, tags=TAGS, summary=o.summaries["delete"])(
            endpoint(f"delete_{o.one}", [ident, db, who_writes], run_delete))
