"""Sound files (CC-12): upload (WAV or MP3, judged by content, size-limited), converted once to the
engine's prompt format (8 kHz mono 16-bit PCM WAV) with ffmpeg, list, search, rename, delete
(refused while a route uses the prompt), and the file for listening in the browser.

Files live under data_dir/telephony/sounds/<organization id>/<sound id>.wav. A file written for a
transaction that rolls back is removed; a deleted sound's file goes at the next apply that no
longer uses it, so calls on the running configuration keep their prompts.
"""

from __future__ import annotations

import logging
import re
import tempfile
import wave
from pathlib import Path

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import snapshot
from ketnoi.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, Page
from ketnoi.db.base import new_id
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx import service
from ketnoi.telephony.pbx.models import InboundRoute, SoundFile
from ketnoi.telephony.pbx.objects import Audited, Listing, ensure_unique

log = logging.getLogger(__name__)
MAX_BYTES = 20 * 1024 * 1024
MAX_SECONDS = 600
SAMPLE_RATE = 8000
STORAGE_NAME = re.compile(r"^[0-9a-f]{32}\.wav$")
FIELDS = ("name", "description", "original_filename", "original_format", "size", "duration_ms")
AUDIT = Audited("sound", "pbx_sound")
LISTING = Listing(SoundFile, (SoundFile.name, SoundFile.description, SoundFile.original_filename),
                  {"name": SoundFile.name, "created_at": SoundFile.created_at, "duration_ms": SoundFile.duration_ms,
                   "size": SoundFile.size}, "name")


class PayloadTooLarge(DomainError):
    status = 413
    title = "Dữ liệu gửi lên quá lớn"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Kiểu dữ liệu không được hỗ trợ"


def sounds_dir(org_id: str, data_dir: Path | None = None) -> Path:
    if data_dir is None:
        from ketnoi.settings import get_settings

        data_dir = get_settings().data_dir
    return Path(data_dir) / "telephony" / "sounds" / org_id


def sound_path(s: SoundFile, data_dir: Path | None = None) -> Path:
    if not STORAGE_NAME.match(s.storage_name):
        raise NotFound("Tệp âm thanh không còn trên máy chủ.")
    return sounds_dir(s.organization_id, data_dir) / s.storage_name


def sniff(content: bytes) -> str | None:
    """'wav' or 'mp3' judged from the bytes (RIFF/WAVE header; ID3 tag or an MPEG audio frame sync)."""
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WAVE":
        return "wav"
    if content[:3] == b"ID3":
        return "mp3"
    if len(content) >= 4 and content[0] == 0xFF and content[1] & 0xE0 == 0xE0 and content[1] & 0x06 \
            and content[2] & 0xF0 != 0xF0:
        return "mp3"
    return None


def convert(src: Path, dst: Path) -> int:
    """Any WAV/MP3 → 8 kHz mono 16-bit PCM WAV (ketnoi.telephony.media.convert); returns the duration
    in ms. Callers sniff the content first, so ffmpeg only ever sees real WAV/MP3 data (never, say, a
    playlist that would make it open other files)."""
    from ketnoi.telephony.media.convert import ConversionError, convert_to_prompt

    try:
        prompt = convert_to_prompt(src, dst, timeout=120, max_seconds=MAX_SECONDS)
    except ConversionError as e:
        log.info("sound upload refused: %s", e)
        raise ValidationFailed.field("file", e.message + ".") from None
    return round(prompt.duration * 1000)


def wav_duration_ms(path: Path) -> int:
    """Duration of a stored prompt, checking it is the engine's format."""
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValidationFailed.field("file", "Tệp sau chuyển đổi không đúng định dạng 8 kHz mono.")
        return w.getnframes() * 1000 // SAMPLE_RATE


def _on_rollback_remove(db: Session, path: Path) -> None:
    """Remove ``path`` if the transaction rolls back (the row that would name it never existed)."""
    if "pbx.uploads" not in db.info:
        db.info["pbx.uploads"] = []
        event.listen(db, "after_commit", _uploads_kept)
        event.listen(db, "after_soft_rollback", _uploads_dropped)
    db.info["pbx.uploads"].append(path)


def _uploads_kept(session: Session) -> None:
    session.info["pbx.uploads"] = []


def _uploads_dropped(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        for path in session.info.get("pbx.uploads", []):
            path.unlink(missing_ok=True)
        session.info["pbx.uploads"] = []


def collect_garbage(db: Session, org_id: str, keep: set[str], data_dir: Path | None = None,
                    min_age_s: float = 3600) -> int:
    """Remove prompt files that no sound row and no applied snapshot refers to any more (run at apply:
    a deleted sound keeps playing until the configuration without it is applied). Files younger
    than ``min_age_s`` stay: they may belong to an upload whose transaction has not committed yet."""
    import time

    folder = sounds_dir(org_id, data_dir)
    if not folder.is_dir():
        return 0
    known = set(db.scalars(select(SoundFile.storage_name).where(SoundFile.organization_id == org_id))) | keep
    removed = 0
    for f in folder.iterdir():
        if STORAGE_NAME.match(f.name) and f.name not in known and time.time() - f.stat().st_mtime > min_age_s:
            f.unlink(missing_ok=True)
            removed += 1
    return removed


def _unique_name(db: Session, org_id: str, name: str, exclude: str | None = None) -> None:
    ensure_unique(db, SoundFile.name, org_id, name, f"Đã có tệp âm thanh tên «{name}».", exclude=exclude)


def default_name(filename: str) -> str:
    stem = Path(filename or "").stem.strip()
    return (stem or "Âm thanh")[:100]


def upload(db: Session, p: Principal, content: bytes, filename: str, *, name: str = "", description: str = "",
           organization_id: str | None = None, data_dir: Path | None = None) -> SoundFile:
    org_id = service.org_for_write(db, p, organization_id)
    if not content:
        raise ValidationFailed.field("file", "Chưa chọn tệp âm thanh.")
    if len(content) > MAX_BYTES:
        raise PayloadTooLarge(f"Tệp âm thanh tối đa {MAX_BYTES // (1024 * 1024)} MB.")
    fmt = sniff(content)
    if fmt is None:
        raise UnsupportedMediaType("Tệp phải là âm thanh WAV hoặc MP3 (kiểm tra theo nội dung tệp, không theo phần "
                                   "mở rộng).")
    name = (name or "").strip()[:100] or default_name(filename)
    if len(description) > 500:
        raise ValidationFailed.field("description", "Mô tả tối đa 500 ký tự.")
    _unique_name(db, org_id, name)
    folder = sounds_dir(org_id, data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    sid = new_id()
    final = folder / f"{sid}.wav"
    with tempfile.TemporaryDirectory(dir=folder, prefix=".upload-") as tmp:
        src, out = Path(tmp) / f"in.{fmt}", Path(tmp) / "out.wav"
        src.write_bytes(content)
        convert(src, out)
        duration = wav_duration_ms(out)
        if duration == 0:
            raise ValidationFailed.field("file", "Tệp âm thanh không có nội dung.")
        out.replace(final)
    _on_rollback_remove(db, final)
    s = SoundFile(id=sid, organization_id=org_id, name=name, description=description,
                  original_filename=(filename or "")[:255], original_format=fmt, storage_name=final.name,
                  size=final.stat().st_size, duration_ms=duration)
    AUDIT.created(db, p, s, snapshot(s, FIELDS), f"Tải lên tệp âm thanh {s.name}", verb="uploaded")
    return s


def sound_out(s: SoundFile) -> S.SoundOut:
    return S.SoundOut.model_validate({**{f: getattr(s, f) for f in S.SoundOut.model_fields if f != "audio_url"},
                                      "audio_url": f"/api/v1/telephony/sounds/{s.id}/audio"})


def get_sound(db: Session, p: Principal, sound_id: str) -> SoundFile:
    return service.get_owned(db, p, SoundFile, sound_id, "Không tìm thấy tệp âm thanh.")


def list_sounds(db: Session, p: Principal, params: ListParams, *, organization_id: str = "") -> Page:
    return LISTING.page(db, p, params, organization_id)


def update_sound(db: Session, p: Principal, sound_id: str, data: S.SoundPatch) -> SoundFile:
    s = get_sound(db, p, sound_id)
    before = snapshot(s, FIELDS)
    if data.name is not None and data.name != s.name:
        _unique_name(db, s.organization_id, data.name, exclude=s.id)
        s.name = data.name
    if data.description is not None:
        s.description = data.description
    db.flush()
    AUDIT.updated(db, p, s, before, snapshot(s, FIELDS), f"Sửa tệp âm thanh {s.name}")
    return s


def usage(db: Session, s: SoundFile) -> list[str]:
    """What plays this sound: 'tuyến gọi vào X', … (the call-center issue adds IVRs, queues…)."""
    rows = db.scalars(select(InboundRoute.name).where(
        InboundRoute.organization_id == s.organization_id,
        or_(InboundRoute.prompt_sound_id == s.id, (InboundRoute.dest_kind == "play") & (InboundRoute.dest_ref == s.id))))
    return [f"tuyến gọi vào «{n}»" for n in rows]


def delete_sound(db: Session, p: Principal, sound_id: str) -> None:
    """The row goes now; the file stays until an apply no longer needs it (collect_garbage)."""
    s = get_sound(db, p, sound_id)
    used = usage(db, s)
    if used:
        raise Conflict(f"Tệp âm thanh «{s.name}» đang được dùng bởi {', '.join(used)}; hãy bỏ tệp khỏi các nơi này "
                       "trước khi xóa.")
    AUDIT.deleted(db, p, s, snapshot(s, FIELDS), f"Xóa tệp âm thanh {s.name}")


def audio_file(db: Session, p: Principal, sound_id: str, data_dir: Path | None = None) -> tuple[SoundFile, Path]:
    s = get_sound(db, p, sound_id)
    path = sound_path(s, data_dir)
    if not path.is_file():
        raise NotFound("Tệp âm thanh không còn trên máy chủ.")
    return s, path
