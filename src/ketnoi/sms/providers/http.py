"""Generic HTTP provider for carriers' REST APIs: a signed JSON or form POST out, a signed webhook in
for incoming messages and delivery reports (SMS-01, SMS-02, SMS-04).

Signature (both directions): ``<timestamp_header>: <unix seconds>`` and ``<signature_header>:
sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>``. The webhook refuses a missing or
wrong signature and a timestamp more than ``max_skew_seconds`` away from now (replay window);
a replay inside the window is harmless because the core stores a provider id once.
Field names are configurable (``HttpConfig``); the carrier splits long texts itself, so one id
comes back per message (``response_id_path``, dotted, e.g. ``data.messages.0.id``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import httpx

from ketnoi.sms.providers.base import (
    DeliveryReceipt,
    IncomingSms,
    OutgoingSms,
    PermanentFailure,
    ProviderConfig,
    SubmitResult,
    TemporaryFailure,
)
from ketnoi.sms.providers.common import HttpPeerProvider, encode_or_refuse
from ketnoi.sms.providers.config import HttpConfig


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, max_skew: int,
           now: float | None = None) -> str | None:
    """None when the request is authentic and fresh, else the (Vietnamese) reason."""
    if not timestamp or not signature:
        return "Thiếu chữ ký hoặc thời điểm ký."
    try:
        ts = int(timestamp)
    except ValueError:
        return "Thời điểm ký không hợp lệ."
    if abs((time.time() if now is None else now) - ts) > max_skew:
        return "Yêu cầu đã quá hạn (thời điểm ký lệch quá nhiều)."
    expected = sign(secret, timestamp, body)
    given = signature.strip()
    if not given.startswith("sha256="):
        given = "sha256=" + given
    if not hmac.compare_digest(expected.encode(), given.lower().encode()):
        return "Chữ ký không đúng."
    return None


def dig(data, path: str):
    """``data.messages.0.id`` → the value, or None."""
    for key in path.split("."):
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def format_phone(e164: str, style: str) -> str:
    digits = e164.lstrip("+")
    if style == "e164":
        return "+" + digits
    if style == "national" and digits.startswith("84"):
        return "0" + digits[2:]
    return digits


def parse_webhook(provider: str, s: HttpConfig, body: bytes, content_type: str) -> list:
    """IncomingSms / DeliveryReceipt objects from a webhook body (one object or a list of them)."""
    if "json" in content_type:
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise ValueError("JSON không hợp lệ.") from None
    else:
        try:
            data = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)))
        except (UnicodeDecodeError, ValueError):
            raise ValueError("Dữ liệu biểu mẫu không hợp lệ.") from None
    items = data if isinstance(data, list) else [data]
    if not items or len(items) > 500 or not all(isinstance(i, dict) for i in items):
        raise ValueError("Cần một đối tượng hoặc danh sách đối tượng (tối đa 500).")
    out = []
    for item in items:
        kind = str(item.get(s.in_kind_field, "")).lower()
        pid = str(item.get(s.in_id_field) or "").strip()
        if not pid:
            raise ValueError(f"Thiếu mã tin ({s.in_id_field}).")
        if kind in ("mo", "incoming", "inbound", "sms"):
            sender = str(item.get(s.in_from_field) or "").strip()
            text = item.get(s.in_text_field)
            if not sender or not isinstance(text, str):
                raise ValueError(f"Thiếu số gửi ({s.in_from_field}) hoặc nội dung ({s.in_text_field}).")
            out.append(IncomingSms(provider, pid[:100], sender[:32], str(item.get(s.in_to_field) or "")[:32],
                                   text, datetime.now(UTC)))
        elif kind in ("dlr", "receipt", "status", "delivery"):
            raw = str(item.get(s.in_status_field) or "").strip().lower()
            status = s.status_map.get(raw)
            if status is None:
                raise ValueError(f"Trạng thái không xác định: {raw[:40]!r}.")
            err = item.get(s.in_error_field)
            out.append(DeliveryReceipt(provider, pid[:100], status,
                                       str(err)[:200] if err not in (None, "") else None, datetime.now(UTC)))
        else:
            raise ValueError(f"Loại thông báo ({s.in_kind_field}) phải là 'mo' hoặc 'dlr'.")
    return out


class HttpProvider(HttpPeerProvider):
    label = "HTTP"

    def __init__(self, cfg: ProviderConfig, settings: HttpConfig):
        super().__init__(cfg, settings)

    def build_request(self, sms: OutgoingSms, now: float | None = None) -> tuple[bytes, dict[str, str]]:
        s = self.settings
        fields: dict[str, object] = {**s.extra_fields, s.to_field: format_phone(sms.to, s.phone_format),
                                     s.text_field: sms.text, s.sender_field: sms.sender}
        if s.reference_field:
            fields[s.reference_field] = sms.message_id
        if s.receipt_field:
            fields[s.receipt_field] = sms.want_receipt if s.format == "json" else str(sms.want_receipt).lower()
        if s.format == "json":
            body = json.dumps(fields, ensure_ascii=False).encode()
            ctype = "application/json; charset=utf-8"
        else:
            body = urlencode({k: str(v) for k, v in fields.items()}).encode()
            ctype = "application/x-www-form-urlencoded"
        headers = {**s.headers, "Content-Type": ctype}
        if s.signing_secret:
            ts = str(int(time.time() if now is None else now))
            headers[s.timestamp_header] = ts
            headers[s.signature_header] = sign(s.signing_secret, ts, body)
        return body, headers

    async def send(self, sms: OutgoingSms) -> SubmitResult:
        self._check_running()
        enc = encode_or_refuse(sms.text, max_parts=255)
        body, headers = self.build_request(sms)
        with self._sends.sending():
            async with self._window:
                try:
                    r = await self._client.post(self.settings.url, content=body, headers=headers)  # type: ignore[union-attr]
                except httpx.HTTPError as exc:
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    raise TemporaryFailure(f"Không gọi được API nhà mạng: {self.last_error}", "unreachable") from None
            pid = self._check(r)
            self.counters["submitted"] += 1
            return SubmitResult([pid or sms.message_id], enc.parts, enc.encoding)

    def _check(self, r: httpx.Response) -> str | None:
        s = self.settings
        text = r.text[:200]
        if r.status_code == 429 or r.status_code >= 500 or r.status_code == 408:
            self.last_error = f"HTTP {r.status_code}: {text}"
            raise TemporaryFailure(f"API nhà mạng tạm thời không nhận: {self.last_error}", f"http_{r.status_code}")
        if not 200 <= r.status_code < 300:
            self.last_error = f"HTTP {r.status_code}: {text}"
            raise PermanentFailure(f"API nhà mạng từ chối: {self.last_error}", f"http_{r.status_code}")
        try:
            data = r.json()
        except ValueError:
            data = None
        if s.response_ok_path:
            ok = dig(data, s.response_ok_path)
            if str(ok).lower() not in {v.lower() for v in s.response_ok_values}:
                self.last_error = f"{s.response_ok_path}={ok!r}: {text}"
                raise PermanentFailure(f"API nhà mạng báo lỗi: {self.last_error}", "rejected")
        self.last_error = None
        pid = dig(data, s.response_id_path)
        return str(pid) if pid not in (None, "") else None
