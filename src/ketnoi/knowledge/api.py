"""JSON API of the knowledge base under /api/v1/knowledge (KB-01…11, 22): procedures, answers,
attachments, events and search, for signed partner requests or bearer tokens; API keys and the
call log for administrators (bearer/console only). Every call is logged (signing.LoggedRoute).
Every content POST/PATCH/DELETE honours ``Idempotency-Key`` (core/idempotency.py), scoped to the
API key (or the user) that sends it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ketnoi.core import idempotency
from ketnoi.core.idempotency import idempotency_doc
from ketnoi.core.listing import ListParams
from ketnoi.identity.principal import Principal
from ketnoi.knowledge import schemas as S
from ketnoi.knowledge import service, signing
from ketnoi.knowledge.models import Answer, ApiKey, KnowledgeAttachment, Procedure
from ketnoi.knowledge.signing import signed_or_bearer
from ketnoi.settings import get_settings
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.schemas import PROBLEMS, Paged, list_query

PREFIX = "/api/v1/knowledge"
# content routes log every call (signing.LoggedRoute); key administration is bearer/console only
content = APIRouter(prefix=PREFIX, responses=PROBLEMS, route_class=signing.LoggedRoute)
admin = APIRouter(prefix=PREFIX, responses=PROBLEMS)
ListQ = Annotated[ListParams, list_query()]
READ, WRITE = "knowledge.read", "knowledge.write"
Page = Annotated[int, Query(ge=1, le=1_000_000, description="Trang, từ 1")]
PageSize = Annotated[int, Query(ge=1, le=200, description="Số kết quả mỗi trang")]
IDEM = idempotency_doc  # OpenAPI of the optional Idempotency-Key header on every content write below


def scope_of(p: Principal) -> str:
    """Idempotency keys belong to the partner's API key (signed requests), or to the user."""
    return f"user:{p.user_id}" if p.user_id else f"kb-key:{p.username.removeprefix('api:')}"


def once(request: Request, db, p: Principal, payload: Any, handler, status_code: int = 200, out=None):
    """``handler`` once per Idempotency-Key (without the header: every time, as before), its result
    shaped by ``out`` as the route's response model would."""
    return idempotency.run(request, db, scope_of(p), payload, handler, status_code=status_code, out=out)


# --- shapes --------------------------------------------------------------------------------------
def attachment_out(att: KnowledgeAttachment) -> dict[str, Any]:
    return {**S.AttachmentOut.model_validate(att).model_dump(exclude={"url"}),
            "url": f"{PREFIX}/attachments/{att.id}"}


def answer_out(a: Answer) -> dict[str, Any]:
    out = S.AnswerOut.model_validate(a).model_dump(exclude={"attachments"})
    out["attachments"] = [attachment_out(x) for x in a.attachments]
    return out


def procedure_out(proc: Procedure) -> dict[str, Any]:
    out = S.ProcedureOut.model_validate(proc).model_dump(exclude={"answers", "areas"})
    out["areas"] = [S.AreaRef.model_validate(a).model_dump() for a in sorted(proc.areas, key=lambda a: a.code)]
    out["answers"] = [answer_out(a) for a in proc.answers]
    return out


def key_out(key: ApiKey, secret: str | None = None, replaces: str | None = None) -> dict[str, Any]:
    out = {"key_id": key.key_id, "organization_id": key.organization_id, "name": key.name,
           "scopes": key.scopes.split(), "state": signing.key_state(key), "created_at": key.created_at,
           "expires_at": key.expires_at, "revoked_at": key.revoked_at, "last_used_at": key.last_used_at,
           "replaced_by": key.replaced_by}
    if secret is not None:
        out.update(secret=secret, replaces=replaces)
    return out


def search_out(page) -> dict[str, Any]:
    return {"items": [{"id": h.id, "code": h.code, "title": h.title, "snippet": h.snippet, "score": h.score}
                      for h in page.items], "page": page.page, "page_size": page.page_size, "total": page.total}


async def _read_upload(file: UploadFile) -> bytes:
    return await file.read(get_settings().attachment_max_mb * 1024 * 1024 + 1)


# --- search (KB-11) ------------------------------------------------------------------------------
@content.get("/search", response_model=S.SearchOut, tags=["knowledge"],
            summary="Tìm thủ tục: chính xác hoặc gần đúng, theo thư mục, lĩnh vực, cấp, khu vực (KB-11)")
def search(db: DbDep, q: Annotated[str, Query(min_length=1, max_length=200, description="Từ khóa")],
           mode: S.SearchMode = S.SearchMode.APPROXIMATE,
           type_doc: Annotated[str, Query(max_length=100, description="Thư mục tài liệu (typeDoc)")] = "",
           field: Annotated[str, Query(max_length=300)] = "", level: Annotated[str, Query(max_length=200)] = "",
           area_id: Annotated[str, Query(max_length=64)] = "",
           status: S.Status = S.Status.PUBLISHED, organization_id: Annotated[str, Query(max_length=64)] = "",
           page: Page = 1, page_size: PageSize = 20, p: Principal = signed_or_bearer(READ)):
    org = service.organization_for_read(p, organization_id)
    return search_out(service.search_procedures(db, org, q, mode=mode.value, type_doc=type_doc, field=field,
                                                level=level, area_id=area_id, status=status.value, page=page,
                                                page_size=page_size))


# --- procedures (KB-02…05, 08, 10) ---------------------------------------------------------------
@content.get("/procedures", response_model=Paged[S.ProcedureSummary], tags=["knowledge"],
            summary="Danh sách thủ tục, lọc theo thư mục tài liệu (KB-10)")
def list_procedures(db: DbDep, params: ListQ, type_doc: Annotated[str, Query(max_length=100)] = "",
                    field: Annotated[str, Query(max_length=300)] = "", status: S.Status | None = None,
                    organization_id: Annotated[str, Query(max_length=64)] = "",
                    p: Principal = signed_or_bearer(READ)):
    f = service.ProcedureFilters(type_doc=type_doc, field=field, status=status.value if status else "",
                                 organization_id=organization_id)
    return service.list_procedures(db, p, params, f).as_dict(lambda x: S.ProcedureSummary.model_validate(x))


@content.post("/procedures", response_model=S.ProcedureOut, status_code=201, tags=["knowledge"],
             summary="Tạo thủ tục cùng câu trả lời đầu tiên và tệp đính kèm base64 (KB-02)", openapi_extra=IDEM(),
             description="Without `Idempotency-Key` a retried create is 409 on the procedure code; with it, the "
                         "same key and body answer the first procedure again (`Idempotent-Replayed: true`).")
def create_procedure(request: Request, data: S.ProcedureIn, db: DbDep, p: Principal = signed_or_bearer(WRITE)):
    return once(request, db, p, data.model_dump(), lambda: procedure_out(service.create_procedure(db, p, data)), 201,
                S.ProcedureOut)


@content.get("/procedures/{procedure_id}", response_model=S.ProcedureOut, tags=["knowledge"],
            summary="Chi tiết thủ tục với các câu trả lời (KB-08)")
def get_procedure(procedure_id: str, db: DbDep, p: Principal = signed_or_bearer(READ)):
    return procedure_out(service.get_procedure(db, p, procedure_id))


@content.patch("/procedures/{procedure_id}", response_model=S.ProcedureOut, tags=["knowledge"],
              summary="Sửa tiêu đề, trạng thái và các trường khác của thủ tục (KB-05)", openapi_extra=IDEM())
def update_procedure(request: Request, procedure_id: str, data: S.ProcedurePatch, db: DbDep,
                     p: Principal = signed_or_bearer(WRITE)):
    return once(request, db, p, data.model_dump(exclude_unset=True),
                lambda: procedure_out(service.update_procedure(db, p, procedure_id, data)), out=S.ProcedureOut)


@content.delete("/procedures/{procedure_id}", status_code=204, tags=["knowledge"],
               summary="Xóa thủ tục cùng mọi câu trả lời (KB-03)", openapi_extra=IDEM())
def delete_procedure(request: Request, procedure_id: str, db: DbDep, p: Principal = signed_or_bearer(WRITE)):
    return once(request, db, p, None, lambda: service.delete_procedure(db, p, procedure_id), 204)


# --- answers (KB-04, 06, 07, 09) -----------------------------------------------------------------
@content.post("/procedures/{procedure_id}/answers", response_model=S.AnswerOut, status_code=201, tags=["knowledge"],
             summary="Thêm câu trả lời (có thể kèm tệp base64) cho thủ tục (KB-07)", openapi_extra=IDEM())
def add_answer(request: Request, procedure_id: str, data: S.AnswerIn, db: DbDep,
               p: Principal = signed_or_bearer(WRITE)):
    return once(request, db, p, data.model_dump(), lambda: answer_out(service.add_answer(db, p, procedure_id, data)),
                201, S.AnswerOut)


@content.get("/answers/{answer_id}", response_model=S.AnswerOut, tags=["knowledge"],
            summary="Chi tiết câu trả lời (KB-09)")
def get_answer(answer_id: str, db: DbDep, p: Principal = signed_or_bearer(READ)):
    return answer_out(service.get_answer(db, p, answer_id))


@content.patch("/answers/{answer_id}", response_model=S.AnswerOut, tags=["knowledge"],
              summary="Sửa nội dung, trạng thái câu trả lời (KB-06)", openapi_extra=IDEM())
def update_answer(request: Request, answer_id: str, data: S.AnswerPatch, db: DbDep,
                  p: Principal = signed_or_bearer(WRITE)):
    return once(request, db, p, data.model_dump(exclude_unset=True),
                lambda: answer_out(service.update_answer(db, p, answer_id, data)), out=S.AnswerOut)


@content.delete("/answers/{answer_id}", status_code=204, tags=["knowledge"], summary="Xóa một câu trả lời (KB-04)",
                openapi_extra=IDEM())
def delete_answer(request: Request, answer_id: str, db: DbDep, p: Principal = signed_or_bearer(WRITE)):
    return once(request, db, p, None, lambda: service.delete_answer(db, p, answer_id), 204)


# --- attachments ---------------------------------------------------------------------------------
@content.post("/answers/{answer_id}/attachments", response_model=S.AttachmentOut, status_code=201,
             tags=["knowledge"], summary="Tải tệp đính kèm (multipart, trường 'file') lên câu trả lời",
             openapi_extra=IDEM())
async def upload_attachment(request: Request, answer_id: str, db: DbDep, file: Annotated[UploadFile, File()],
                            p: Principal = signed_or_bearer(WRITE)):
    data = await _read_upload(file)
    payload = {"filename": file.filename or "", "sha256": hashlib.sha256(data).hexdigest()}
    return await run_in_threadpool(once, request, db, p, payload, lambda: attachment_out(
        service.add_attachment(db, p, answer_id, file.filename or "", data)), 201, S.AttachmentOut)


@content.get("/attachments/{attachment_id}", tags=["knowledge"], summary="Tải tệp đính kèm về",
            response_class=FileResponse)
def download_attachment(attachment_id: str, db: DbDep, p: Principal = signed_or_bearer(READ)):
    att = service.get_attachment(db, p, attachment_id)
    return FileResponse(service.attachment_path(att), media_type=att.content_type, filename=att.filename)


@content.delete("/attachments/{attachment_id}", status_code=204, tags=["knowledge"], summary="Xóa tệp đính kèm",
                openapi_extra=IDEM())
def delete_attachment(request: Request, attachment_id: str, db: DbDep, p: Principal = signed_or_bearer(WRITE)):
    return once(request, db, p, None, lambda: service.delete_attachment(db, p, attachment_id), 204)


# --- events (KB-22) ------------------------------------------------------------------------------
@content.get("/events", response_model=Paged[S.EventOut], tags=["knowledge events"], summary="Danh sách sự kiện")
def list_events(db: DbDep, params: ListQ, status: S.Status | None = None,
                organization_id: Annotated[str, Query(max_length=64)] = "", p: Principal = signed_or_bearer(READ)):
    page = service.list_events(db, p, params, status=status.value if status else "", organization_id=organization_id)
    return page.as_dict(lambda e: S.EventOut.model_validate(e))


@content.post("/events", response_model=S.EventOut, status_code=201, tags=["knowledge events"],
             summary="Tạo sự kiện", openapi_extra=IDEM())
def create_event(request: Request, data: S.EventIn, db: DbDep, p: Principal = signed_or_bearer(WRITE)):
    return once(request, db, p, data.model_dump(),
                lambda: service.create_event(db, p, data), 201, S.EventOut)


@content.get("/events/search", response_model=S.SearchOut, tags=["knowledge events"],
            summary="Tìm sự kiện (KB-22)")
def search_events(db: DbDep, q: Annotated[str, Query(min_length=1, max_length=200)],
                  mode: S.SearchMode = S.SearchMode.APPROXIMATE,
                  organization_id: Annotated[str, Query(max_length=64)] = "", page: Page = 1,
                  page_size: PageSize = 20, p: Principal = signed_or_bearer(READ)):
    org = service.organization_for_read(p, organization_id)
    return search_out(service.search_events(db, org, q, mode=mode.value, page=page, page_size=page_size))


@content.get("/events/{event_id}", response_model=S.EventOut, tags=["knowledge events"], summary="Chi tiết sự kiện")
def get_event(event_id: str, db: DbDep, p: Principal = signed_or_bearer(READ)):
    return service.get_event(db, p, event_id)


@content.patch("/events/{event_id}", response_model=S.EventOut, tags=["knowledge events"], summary="Sửa sự kiện",
               openapi_extra=IDEM())
def update_event(request: Request, event_id: str, data: S.EventPatch, db: DbDep, p: Principal = signed_or_bearer(WRITE)):
    return once(request, db, p, data.model_dump(exclude_unset=True),
                lambda: service.update_event(db, p, event_id, data), out=S.EventOut)


@content.delete("/events/{event_id}", status_code=204, tags=["knowledge events"], summary="Xóa sự kiện",
                openapi_extra=IDEM())
def delete_event(request: Request, event_id: str, db: DbDep, p: Principal = signed_or_bearer(WRITE)):
    return once(request, db, p, None, lambda: service.delete_event(db, p, event_id), 204)


# --- API keys and the call log (KB-01; bearer or console session only) ---------------------------
@admin.get("/api-keys", response_model=Paged[S.ApiKeyOut], tags=["knowledge api keys"],
            summary="Khóa API của đối tác")
def list_keys(db: DbDep, params: ListQ, state: Annotated[str, Query(pattern="^(|active|inactive)$")] = "",
              p: Principal = requires("knowledge.keys")):
    return signing.list_keys(db, p, params, state=state).as_dict(key_out)


@admin.post("/api-keys", response_model=S.ApiKeyIssued, status_code=201, tags=["knowledge api keys"],
             summary="Tạo khóa API; bí mật chỉ trả về một lần")
def create_key(data: S.ApiKeyIn, db: DbDep, p: Principal = requires("knowledge.keys")):
    issued = signing.create_key(db, p, data.name, data.scopes, expires_at=data.expires_at,
                                organization_id=data.organization_id)
    return key_out(issued.key, issued.secret)


@admin.get("/api-keys/{key_id}", response_model=S.ApiKeyOut, tags=["knowledge api keys"],
            summary="Chi tiết khóa API")
def get_key(key_id: str, db: DbDep, p: Principal = requires("knowledge.keys")):
    return key_out(signing.get_key(db, p, key_id))


@admin.post("/api-keys/{key_id}/rotate", response_model=S.ApiKeyIssued, status_code=201,
             tags=["knowledge api keys"],
             summary="Đổi khóa: cấp khóa mới, khóa cũ còn dùng được 24 giờ rồi hết hạn")
def rotate_key(key_id: str, db: DbDep, p: Principal = requires("knowledge.keys")):
    issued = signing.rotate_key(db, p, key_id)
    return key_out(issued.key, issued.secret, replaces=key_id)


@admin.post("/api-keys/{key_id}/revoke", response_model=S.ApiKeyOut, tags=["knowledge api keys"],
             summary="Thu hồi khóa ngay")
def revoke_key(key_id: str, db: DbDep, p: Principal = requires("knowledge.keys")):
    return key_out(signing.revoke_key(db, p, key_id))


@admin.get("/api-calls", response_model=Paged[S.ApiCallOut], tags=["knowledge api keys"],
            summary="Nhật ký gọi API tri thức (mọi lần gọi, kể cả bị từ chối)")
def list_calls(db: DbDep, params: ListQ, key_id: Annotated[str, Query(max_length=40)] = "",
               outcome: Annotated[str, Query(max_length=40)] = "",
               status: Annotated[str, Query(pattern="^(|ok|error|[1-5][0-9][0-9])$")] = "",
               since: datetime | None = None, until: datetime | None = None,
               p: Principal = requires("knowledge.keys")):
    f = signing.CallFilters(key_id=key_id, outcome=outcome, status=status, since=since, until=until)
    return signing.list_calls(db, p, params, f).as_dict(lambda r: S.ApiCallOut.model_validate(r))



router = APIRouter()
router.include_router(content)
router.include_router(admin)
