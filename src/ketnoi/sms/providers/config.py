"""Validated, kind-specific provider settings (``ProviderConfig.config``) for SMPP, Kannel and HTTP (SMS-08).

Errors are reported in Vietnamese: custom checks raise Vietnamese ``ValueError`` text, and
``validate_config`` turns pydantic's built-in errors into the same Vietnamese field messages the
API uses (``web.problems``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ketnoi.core.errors import ValidationFailed


def _url(v: str) -> str:
    v = (v or "").strip()
    if not v.startswith(("http://", "https://")) or len(v) < 10:
        raise ValueError("Địa chỉ phải bắt đầu bằng http:// hoặc https://.")
    return v.rstrip("/")


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SmppConfig(_Base):
    """One SMSC account (SMPP 3.4 §4.1 bind); every bind gets its own window and rate limit."""

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)  # C-Octet String, 16 with NUL (§4.1.1)
    password: str = Field("", max_length=8)  # 9 with NUL
    system_type: str = Field("", max_length=12)
    bind_mode: Literal["transceiver", "tx_rx"] = "transceiver"
    binds: int = Field(1, ge=1, le=8)  # parallel sessions (each a transceiver or a TX+RX pair)
    window: int = Field(10, ge=1, le=1000)  # max unacknowledged submit_sm per bind
    rate: float = Field(50.0, gt=0, le=10000)  # submit_sm per second per bind
    enquire_link_interval: float = Field(30.0, ge=0.2, le=600)
    response_timeout: float = Field(10.0, ge=0.2, le=120)
    reconnect_min: float = Field(1.0, ge=0.05, le=60)
    reconnect_max: float = Field(60.0, ge=0.1, le=3600)
    throttle_backoff: float = Field(1.0, ge=0.01, le=60)  # pause after ESME_RTHROTTLED
    registered_delivery: bool = True
    address_format: Literal["international", "national"] = "international"  # 8490… or 090…
    force_ucs2: bool = False
    max_parts: int = Field(10, ge=1, le=255)
    source_ton: int | None = Field(None, ge=0, le=6)  # None = 5/0 for a brandname, 1/1 or 0/1 for digits
    source_npi: int | None = Field(None, ge=0, le=18)
    # A part written but unanswered when the connection dropped: "resend" it (flagged, at-least-once)
    # or "fail" the message without resending (at-most-once). See smpp.py.
    in_doubt: Literal["resend", "fail"] = "resend"
    mo_hold_seconds: float = Field(2.0, ge=0, le=30)  # hold deliver_sm_resp of a part for the rest
    mo_timeout_seconds: float = Field(300.0, ge=5, le=3600)  # then store an incomplete message

    @model_validator(mode="after")
    def _order(self):
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("Thời gian chờ kết nối lại tối đa phải lớn hơn hoặc bằng tối thiểu.")
        return self


class KannelConfig(_Base):
    """Kannel smsbox ``sendsms`` account; MO and DLR come back to ketnoi's gateway URLs."""

    sendsms_url: str  # e.g. http://127.0.0.1:13013/cgi-bin/sendsms
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)
    smsc_id: str | None = Field(None, max_length=100)  # route to one smsc group
    callback_base_url: str  # where Kannel reaches ketnoi, e.g. http://10.0.0.5:8000
    inbound_secret: str = Field(min_length=16, max_length=200)  # in the MO get-url and every dlr-url
    dlr_mask: int = Field(31, ge=0, le=31)  # 1 delivered, 2 failed, 4 buffered, 8 smsc ok, 16 smsc reject
    timeout: float = Field(10.0, ge=0.5, le=120)
    window: int = Field(20, ge=1, le=500)  # concurrent sendsms requests
    force_ucs2: bool = False
    max_parts: int = Field(10, ge=1, le=255)

    @field_validator("sendsms_url", "callback_base_url")
    @classmethod
    def _urls(cls, v: str) -> str:
        return _url(v)

    @field_validator("inbound_secret")
    @classmethod
    def _url_safe(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._~-]+", v):  # it goes into Kannel's get-url, where % is an escape
            raise ValueError("Khóa chỉ gồm chữ cái không dấu, chữ số và . _ ~ -")
        return v


class HttpConfig(_Base):
    """A carrier's REST API: signed JSON or form POST out, signed webhook in."""

    url: str
    format: Literal["json", "form"] = "json"
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)  # e.g. an API key
    extra_fields: dict[str, str] = Field(default_factory=dict, max_length=20)
    to_field: str = Field("to", min_length=1, max_length=64)
    text_field: str = Field("text", min_length=1, max_length=64)
    sender_field: str = Field("from", min_length=1, max_length=64)
    reference_field: str | None = Field("client_ref", max_length=64)  # carries OutgoingSms.message_id
    receipt_field: str | None = Field(None, max_length=64)  # e.g. "dlr" = true/false
    phone_format: Literal["e164", "international", "national"] = "international"
    signing_secret: str | None = Field(None, min_length=16, max_length=200)
    signature_header: str = Field("X-Signature", min_length=1, max_length=64)
    timestamp_header: str = Field("X-Timestamp", min_length=1, max_length=64)
    response_id_path: str = Field("message_id", min_length=1, max_length=200)  # dotted, e.g. data.id
    response_ok_path: str | None = Field(None, max_length=200)  # e.g. "status"
    response_ok_values: list[str] = Field(default_factory=lambda: ["ok", "success", "0", "true"], max_length=20)
    timeout: float = Field(10.0, ge=0.5, le=120)
    window: int = Field(20, ge=1, le=500)
    # Inbound webhook (MO and delivery reports), HMAC-SHA256 over "<timestamp>.<body>".
    inbound_secret: str | None = Field(None, min_length=16, max_length=200)
    max_skew_seconds: int = Field(300, ge=10, le=3600)
    in_kind_field: str = Field("type", min_length=1, max_length=64)  # "mo" | "dlr"
    in_id_field: str = Field("id", min_length=1, max_length=64)
    in_from_field: str = Field("from", min_length=1, max_length=64)
    in_to_field: str = Field("to", min_length=1, max_length=64)
    in_text_field: str = Field("text", min_length=1, max_length=64)
    in_status_field: str = Field("status", min_length=1, max_length=64)
    in_error_field: str = Field("error", min_length=1, max_length=64)
    status_map: dict[str, Literal["accepted", "delivered", "failed", "expired"]] = Field(
        default_factory=lambda: {"accepted": "accepted", "sent": "accepted", "delivered": "delivered",
                                 "failed": "failed", "undeliverable": "failed", "rejected": "failed",
                                 "expired": "expired"}, max_length=50)

    @field_validator("url")
    @classmethod
    def _urls(cls, v: str) -> str:
        return _url(v)


CONFIG_SCHEMAS: dict[str, type[BaseModel]] = {"smpp": SmppConfig, "kannel": KannelConfig, "http": HttpConfig}

KIND_LABELS = {"smpp": "SMPP 3.4 (SMSC nhà mạng)", "kannel": "Kannel (sendsms)", "http": "HTTP API (JSON/form)"}


def validate_config(kind: str, data: dict | None, field_prefix: str = "config") -> BaseModel:
    """Parse ``data`` with the schema of ``kind``; raise ``ValidationFailed`` with Vietnamese messages."""
    schema = CONFIG_SCHEMAS.get(kind)
    if schema is None:
        raise ValidationFailed.field("kind", "Loại nhà cung cấp không hợp lệ (smpp, kannel hoặc http).")
    try:
        return schema.model_validate(data or {})
    except ValidationError as exc:
        from ketnoi.web.problems import validation_errors  # the API's Vietnamese wording

        errors = validation_errors(list(exc.errors()))
        for e in errors:
            e["field"] = f"{field_prefix}.{e['field']}" if e["field"] != "dữ liệu gửi lên" else field_prefix
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ValidationFailed(detail or "Cấu hình nhà cung cấp không hợp lệ.", errors) from None
