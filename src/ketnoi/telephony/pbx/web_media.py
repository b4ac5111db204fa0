"""Console pages of sound files (CC-12: upload, list, search, listen, rename, delete) and call records
(CC-21, CRM-08: history filtered by time, numbers, result and direction; detail with legs and RTCP
quality; listening to and downloading the recording with the ``telephony.recordings`` role)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ketnoi.core.errors import DomainError
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import calls, sounds
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx.web_common import done, form, org_options, org_scope, page, with_org
from ketnoi.web.crud import Field, field_errors, form_data, list_params
from ketnoi.web.deps import DbDep, console

router = APIRouter()


def _tz(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.timezone)


def _duration(ms_or_s: int, ms: bool = False) -> str:
    s = ms_or_s // 1000 if ms else ms_or_s
    return f"{s // 60}:{s % 60:02d}"


# --- sound files --------------------------------------------------------------------------------
@router.get("/sounds")
def sound_list(request: Request, db: DbDep, p: Principal = console("telephony.sounds.read")):
    params = list_params(request)
    org_id = org_scope(request, db, p)
    pg = sounds.list_sounds(db, p, params, organization_id=org_id)
    return page(request, db, p, "pbx_sounds.html", org_id, title="Tệp âm thanh", page=pg, sort=params.sort or "name",
                can_write=p.has("telephony.sounds.write"), duration=lambda s: _duration(s.duration_ms, True),
                new_url=with_org("/telephony/sounds/new", p, org_id), org_filter=org_options(db) if p.is_sysadmin
                else [], max_mb=sounds.MAX_BYTES // (1024 * 1024), org_switch=False)


@router.get("/sounds/new")
def sound_new(request: Request, db: DbDep, p: Principal = console("telephony.sounds.write")):
    org_id = org_scope(request, db, p)
    return page(request, db, p, "pbx_sound_upload.html", org_id, title="Tải lên tệp âm thanh", values={},
                error="", action=with_org("/telephony/sounds/new", p, org_id), max_mb=sounds.MAX_BYTES // 2**20,
                org_options=org_options(db) if p.is_sysadmin else [])


@router.post("/sounds/new")
async def sound_upload(request: Request, db: DbDep, p: Principal = console("telephony.sounds.write")):
    form_ = await request.form()
    upload = form_.get("file")
    content = await upload.read(sounds.MAX_BYTES + 1) if isinstance(upload, UploadFile) else b""
    filename = upload.filename if isinstance(upload, UploadFile) else ""
    values = {k: str(form_.get(k) or "")[:500] for k in ("name", "description", "organization_id")}
    org_id = values["organization_id"] or org_scope(request, db, p)
    try:
        s = await run_in_threadpool(sounds.upload, db, p, content, filename or "", name=values["name"],
                                    description=values["description"], organization_id=org_id if p.is_sysadmin
                                    else None, data_dir=request.app.state.settings.data_dir)
    except DomainError as e:
        db.rollback()
        return page(request, db, p, "pbx_sound_upload.html", org_id, status=e.status, title="Tải lên tệp âm thanh",
                    values=values, error=e.detail, action=str(request.url.path),
                    max_mb=sounds.MAX_BYTES // 2**20, org_options=org_options(db) if p.is_sysadmin else [])
    return done(with_org("/telephony/sounds", p, s.organization_id),
                f"Đã tải lên «{s.name}» ({_duration(s.duration_ms, True)}), đã chuyển sang WAV 8 kHz.")


SOUND_FIELDS = [Field("name", "Tên", required=True, maxlength=100), Field("description", "Mô tả", "textarea")]


@router.get("/sounds/{sound_id}")
def sound_edit(sound_id: str, request: Request, db: DbDep, p: Principal = console("telephony.sounds.write")):
    s = sounds.get_sound(db, p, sound_id)
    used = sounds.usage(db, s)
    return form(request, db, p, s.organization_id, f"Tệp âm thanh «{s.name}»", SOUND_FIELDS,
                {"name": s.name, "description": s.description}, f"/telephony/sounds/{s.id}", "/telephony/sounds",
                audio_url=f"/telephony/sounds/{s.id}/audio",
                notice=f"Tệp gốc {s.original_filename or '?'} ({s.original_format.upper()}), dài "
                       f"{_duration(s.duration_ms, True)}." + (f" Đang được dùng bởi {', '.join(used)}." if used else ""),
                extras=[{"title": "Xóa tệp âm thanh", "label": "Xóa", "url": f"/telephony/sounds/{s.id}/delete",
                         "cls": "danger", "confirm": f"Xóa tệp âm thanh «{s.name}»?",
                         "text": "Không xóa được tệp đang được tuyến gọi vào sử dụng."}])


@router.post("/sounds/{sound_id}")
async def sound_update(sound_id: str, request: Request, db: DbDep, p: Principal = console("telephony.sounds.write")):
    s = sounds.get_sound(db, p, sound_id)
    data = await form_data(request, SOUND_FIELDS)
    try:
        sounds.update_sound(db, p, s.id, S.SoundPatch.model_validate(data))
    except (ValidationError, DomainError) as e:
        errors, msg = field_errors(e)
        db.rollback()
        return form(request, db, p, s.organization_id, f"Tệp âm thanh «{s.name}»", SOUND_FIELDS, data,
                    f"/telephony/sounds/{s.id}", "/telephony/sounds", errors, msg, 422,
                    audio_url=f"/telephony/sounds/{s.id}/audio")
    return done(with_org("/telephony/sounds", p, s.organization_id), f"Đã lưu tệp âm thanh «{s.name}».")


@router.post("/sounds/{sound_id}/delete")
def sound_delete(sound_id: str, db: DbDep, p: Principal = console("telephony.sounds.write")):
    s = sounds.get_sound(db, p, sound_id)
    back = with_org("/telephony/sounds", p, s.organization_id)
    try:
        sounds.delete_sound(db, p, s.id)
    except DomainError as e:
        db.rollback()
        return done(back, "Không xóa được: " + e.detail, error=True)
    return done(back, f"Đã xóa tệp âm thanh «{s.name}».")


@router.get("/sounds/{sound_id}/audio")
def sound_audio(sound_id: str, request: Request, db: DbDep, p: Principal = console("telephony.sounds.read")):
    _, path = sounds.audio_file(db, p, sound_id, request.app.state.settings.data_dir)
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "private, max-age=300",
                                                               "X-Content-Type-Options": "nosniff"})


# --- call records -------------------------------------------------------------------------------
def _day(value: str | None, tz: ZoneInfo) -> datetime | None:
    try:
        return datetime.strptime((value or "").strip(), "%Y-%m-%d").replace(tzinfo=tz)
    except ValueError:
        return None


@router.get("/calls")
def call_list(request: Request, db: DbDep, p: Principal = console("telephony.calls.read")):
    params = list_params(request)
    qp = request.query_params
    tz = _tz(request)
    org_id = org_scope(request, db, p)
    since, until = _day(qp.get("since"), tz), _day(qp.get("until"), tz)
    if since and until and since > until:
        since, until = until, since
    disposition = qp.get("disposition", "") if qp.get("disposition", "") in calls.DISPOSITION_LABELS or \
        qp.get("disposition") == "live" else ""
    direction = qp.get("direction", "") if qp.get("direction", "") in calls.DIRECTION_LABELS else ""
    f = calls.CallFilters(organization_id=org_id, since=since, until=until + timedelta(days=1) if until else None,
                          caller=qp.get("caller", "")[:64], called=qp.get("called", "")[:64],
                          disposition=disposition, direction=direction)
    pg = calls.list_calls(db, p, params, f)
    return page(request, db, p, "pbx_calls.html", org_id, title="Lịch sử cuộc gọi", page=pg,
                sort=params.sort or "-started_at", tz=tz, duration=_duration, directions=calls.DIRECTION_LABELS,
                dispositions={k: v for k, v in calls.DISPOSITION_LABELS.items() if k}, labels=calls,
                can_listen=p.has("telephony.recordings"), org_filter=org_options(db) if p.is_sysadmin else [],
                org_switch=False)


@router.get("/calls/{call_id}")
def call_detail(call_id: str, request: Request, db: DbDep, p: Principal = console("telephony.calls.read")):
    c = calls.get_call(db, p, call_id)
    return page(request, db, p, "pbx_call.html", c.organization_id, title=f"Cuộc gọi {c.caller} → {c.called}",
                call=c, tz=_tz(request), duration=_duration, labels=calls, can_listen=p.has("telephony.recordings"),
                org_switch=False)


@router.get("/calls/{call_id}/recording")
def call_recording(call_id: str, request: Request, db: DbDep, p: Principal = console("telephony.recordings")):
    c, path, media_type = calls.recording_file(db, p, call_id, request.app.state.settings.data_dir)
    download = request.query_params.get("download") == "1"
    who = re.sub(r"[^0-9+]", "", c.caller) or "an-danh"
    return FileResponse(path, media_type=media_type,
                        filename=f"ghi-am-{c.started_at.astimezone(_tz(request)):%Y%m%d-%H%M%S}-{who}{path.suffix}",
                        content_disposition_type="attachment" if download else "inline",
                        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
