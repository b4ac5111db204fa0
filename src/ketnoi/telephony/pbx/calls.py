"""Reading call records (CC-21, CRM-08): the paged, filtered history, one call with its legs, and
its recording file (checked against the organization and kept inside the recordings directory)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ketnoi.core.errors import NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, Page, apply_search, like_escape, paginate
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx import service
from ketnoi.telephony.pbx.cdr import recordings_root
from ketnoi.telephony.pbx.models import CallRecord

DIRECTION_LABELS = {"inbound": "Gọi vào", "outbound": "Gọi ra", "internal": "Nội bộ"}
DISPOSITION_LABELS = {"answered": "Đã trả lời", "busy": "Máy bận", "no_answer": "Không trả lời",
                      "failed": "Lỗi", "cancelled": "Người gọi hủy", "": "Đang diễn ra"}
HANGUP_LABELS = {"caller": "Người gọi", "callee": "Người nghe", "system": "Hệ thống", "": ""}
RECORDING_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg"}


@dataclass
class CallFilters:
    organization_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    caller: str = ""
    called: str = ""
    number: str = ""  # either side
    disposition: str = ""
    direction: str = ""
    extension: str = ""
    trunk_id: str = ""


def number_variants(raw: str) -> list[str]:
    """What to look for when someone types a number: as typed, and for a Vietnamese number also its
    E.164 (+84…), 84… and 0… forms, since trunks and phones present numbers differently."""
    digits = re.sub(r"[\s\-.()]", "", raw or "")
    if not digits:
        return []
    out = [digits]
    national = ""
    if digits.startswith("+84"):
        national = digits[3:]
    elif digits.startswith("84") and len(digits) >= 10:
        national = digits[2:]
    elif digits.startswith("0") and len(digits) >= 9:
        national = digits[1:]
    if national:
        out += [f"+84{national}", f"84{national}", f"0{national}"]
    return list(dict.fromkeys(out))


def _number_clause(columns, raw: str):
    variants = number_variants(raw)
    return or_(*[c.like(f"%{like_escape(v)}%", escape="\\") for v in variants for c in columns])


def list_calls(db: Session, p: Principal, params: ListParams, f: CallFilters) -> Page:
    stmt = select(CallRecord)
    org = service.list_scope(p, f.organization_id)
    if org:
        stmt = stmt.where(CallRecord.organization_id == org)
    if f.since and f.until and f.since > f.until:
        raise ValidationFailed.field("until", "Thời điểm kết thúc phải sau thời điểm bắt đầu.")
    if f.since:
        stmt = stmt.where(CallRecord.started_at >= f.since)
    if f.until:
        stmt = stmt.where(CallRecord.started_at < f.until)
    if f.caller:
        stmt = stmt.where(_number_clause([CallRecord.caller], f.caller))
    if f.called:
        stmt = stmt.where(_number_clause([CallRecord.called], f.called))
    if f.number:
        stmt = stmt.where(_number_clause([CallRecord.caller, CallRecord.called, CallRecord.extension], f.number))
    if f.disposition:
        stmt = stmt.where(CallRecord.disposition == ("" if f.disposition == "live" else f.disposition))
    if f.direction:
        stmt = stmt.where(CallRecord.direction == f.direction)
    if f.extension:
        stmt = stmt.where(CallRecord.extension == f.extension)
    if f.trunk_id:
        stmt = stmt.where(CallRecord.trunk_id == f.trunk_id)
    if params.q:
        stmt = apply_search(stmt, params.q, [CallRecord.caller, CallRecord.called, CallRecord.caller_name,
                                             CallRecord.extension, CallRecord.trunk_name])
    sortable = {"started_at": CallRecord.started_at, "duration": CallRecord.duration, "billsec": CallRecord.billsec,
                "caller": CallRecord.caller, "called": CallRecord.called, "disposition": CallRecord.disposition}
    return paginate(db, stmt, params, sortable, "-started_at")


def get_call(db: Session, p: Principal, call_id: str) -> CallRecord:
    return service.get_owned(db, p, CallRecord, call_id, "Không tìm thấy cuộc gọi.")


def call_out(c: CallRecord) -> S.CallOut:
    return S.CallOut.model_validate({**{f: getattr(c, f) for f in S.CallOut.model_fields if f != "has_recording"},
                                     "has_recording": bool(c.recording_path)})


def call_detail(c: CallRecord, can_listen: bool) -> S.CallDetailOut:
    base = call_out(c).model_dump()
    return S.CallDetailOut.model_validate({
        **base, "sip_call_id": c.sip_call_id, "legs": [S.CallLegOut.model_validate(leg) for leg in c.legs],
        "recording_url": f"/api/v1/telephony/calls/{c.id}/recording" if c.recording_path and can_listen else None})


def recording_file(db: Session, p: Principal, call_id: str, data_dir: Path | None = None) -> tuple[CallRecord, Path,
                                                                                                    str]:
    """(call, path, media type) of a call's recording; 'not found' for another organization's call, a call
    without recording, or a path that would leave the recordings directory."""
    c = get_call(db, p, call_id)
    if not c.recording_path:
        raise NotFound("Cuộc gọi này không có ghi âm.")
    root = recordings_root(data_dir).resolve()
    path = (root / c.recording_path).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound("Tệp ghi âm không còn trên máy chủ.")
    return c, path, RECORDING_TYPES.get(path.suffix.lower(), "application/octet-stream")
