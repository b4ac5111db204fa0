"""Report attachments: images and documents, checked by content (not only by name) and size,
stored on local disk under the data directory."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy.orm import Session

from ketnoi.audit.service import record
from ketnoi.core.errors import NotFound, ValidationFailed
from ketnoi.identity.principal import Principal
from ketnoi.reports.models import Report, ReportAttachment
from ketnoi.settings import get_settings

# magic bytes → (content type, allowed extensions)
SIGNATURES: list[tuple[bytes, int, str, tuple[str, ...]]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", (".png",)),
    (b"\xff\xd8\xff", 0, "image/jpeg", (".jpg", ".jpeg")),
    (b"GIF8", 0, "image/gif", (".gif",)),
    (b"WEBP", 8, "image/webp", (".webp",)),
    (b"%PDF-", 0, "application/pdf", (".pdf",)),
    (b"PK\x03\x04", 0, "application/zip", (".docx", ".xlsx", ".pptx", ".odt", ".ods")),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "application/x-ole-storage", (".doc", ".xls", ".ppt")),
]
OFFICE_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text", ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".doc": "application/msword", ".xls": "application/vnd.ms-excel", ".ppt": "application/vnd.ms-powerpoint",
}
MAX_PER_REPORT = 20


def storage_dir() -> Path:
    d = get_settings().data_dir / "uploads" / "reports"
    d.mkdir(parents=True, exist_ok=True)
    return d


def sniff(filename: str, head: bytes) -> str:
    ext = Path(filename).suffix.lower()
    for magic, offset, ctype, exts in SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            if ext not in exts:
                raise ValidationFailed.field("file", f"Phần mở rộng '{ext or '(không có)'}' không khớp nội dung tệp.")
            return OFFICE_TYPES.get(ext, ctype)
    raise ValidationFailed.field("file", "Chỉ nhận ảnh (PNG, JPEG, GIF, WebP) và tài liệu (PDF, Word, Excel, "
                                         "PowerPoint, OpenDocument).")


def add_attachment(db: Session, p: Principal, r: Report, filename: str, data: bytes) -> ReportAttachment:
    limit = get_settings().attachment_max_mb * 1024 * 1024
    name = Path(filename or "").name[:255]
    if not name:
        raise ValidationFailed.field("file", "Chọn tệp cần đính kèm.")
    if not data:
        raise ValidationFailed.field("file", "Tệp rỗng.")
    if len(data) > limit:
        raise ValidationFailed.field("file", f"Tệp vượt quá {get_settings().attachment_max_mb} MB.")
    if len(r.attachments) >= MAX_PER_REPORT:
        raise ValidationFailed.field("file", f"Mỗi phản ánh có tối đa {MAX_PER_REPORT} tệp đính kèm.")
    ctype = sniff(name, data[:16])
    storage = secrets.token_hex(16)
    (storage_dir() / storage).write_bytes(data)
    att = ReportAttachment(report_id=r.id, filename=name, content_type=ctype, size=len(data), storage_name=storage,
                           uploaded_by_id=p.user_id or None)
    r.attachments.append(att)
    db.flush()
    record(db, p, "report.attachment_added", "report", r.id, organization_id=r.organization_id,
           summary=f"Đính kèm {name} vào {r.code}")
    return att


def attachment_path(r: Report, attachment_id: str) -> tuple[ReportAttachment, Path]:
    att = next((a for a in r.attachments if a.id == attachment_id), None)
    if att is None:
        raise NotFound("Không tìm thấy tệp đính kèm.")
    path = storage_dir() / att.storage_name
    if not path.exists():
        raise NotFound("Tệp đính kèm không còn trên máy chủ.")
    return att, path
