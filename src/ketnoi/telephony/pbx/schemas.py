"""API shapes of the PBX (CC-05…14, CC-21). Secrets (extension secret, trunk password) are write-only:
accepted on input, never returned (``secret_set``/``password_set`` tell whether one is stored)."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ketnoi.identity.schemas import Id
from ketnoi.telephony.pbx import patterns

Codec = Literal["PCMA", "PCMU"]
Recording = Literal["default", "on", "off"]
TrunkKind = Literal["register", "peer"]
Transport = Literal["udp", "tcp"]
CallerIdMode = Literal["extension", "fixed", "anonymous"]
DestKind = Literal["extension", "play", "route", "number", "hangup"]
Direction = Literal["inbound", "outbound", "internal"]
Disposition = Literal["answered", "busy", "no_answer", "failed", "cancelled"]


def _check(rx: str, message: str):
    compiled = re.compile(rx)

    def check(v: str) -> str:
        if v and not compiled.fullmatch(v):
            raise ValueError(message)
        return v

    return AfterValidator(check)


def _network(v: str) -> str:
    try:
        return str(ipaddress.ip_network(v.strip(), strict=False))
    except ValueError:
        raise ValueError(f"'{v}' không phải địa chỉ IP hoặc dải mạng CIDR hợp lệ (ví dụ 10.0.0.0/8).") from None


def _pattern(v: str) -> str:
    try:
        return patterns.validate(v)
    except patterns.PatternError as e:
        raise ValueError(str(e)) from None


def _unique(v: list) -> list:
    if len(set(v)) != len(v):
        raise ValueError("Danh sách có giá trị lặp lại.")
    return v


def _s(max_length: int, min_length: int = 0):
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


ExtNumber = Annotated[str, _s(10, 1), _check(r"[0-9]{2,10}", "Số máy nhánh gồm 2–10 chữ số.")]
Secret = Annotated[str, StringConstraints(min_length=8, max_length=64),
                   _check(r"[\x21-\x7e]+", "Mật khẩu SIP chỉ gồm ký tự ASCII in được, không có khoảng trắng.")]
PhoneLike = Annotated[str, _s(32), _check(r"\+?[0-9*#]{1,31}", "Số điện thoại chỉ gồm chữ số, có thể có + ở đầu.")]
Digits = Annotated[str, _s(20), _check(r"[0-9*#+]{1,20}", "Chỉ gồm chữ số và + * #.")]
Host = Annotated[str, _s(255), _check(r"[A-Za-z0-9.\-]+|\[?[0-9A-Fa-f:.]+\]?",
                                      "Địa chỉ máy chủ phải là tên miền hoặc địa chỉ IP.")]
Network = Annotated[str, _s(50, 1), AfterValidator(_network)]
Pattern = Annotated[str, _s(64), AfterValidator(_pattern)]
Label = Annotated[str, _s(100, 1)]
Text = Annotated[str, StringConstraints(max_length=500)]
Realm = Annotated[str, _s(100), _check(r"[A-Za-z0-9.\-_]+", "Realm chỉ gồm chữ không dấu, chữ số và . - _")]
Pin = Annotated[str, _s(12), _check(r"[0-9]{3,12}", "Mã PIN gồm 3–12 chữ số.")]
Codecs = Annotated[list[Codec], Field(max_length=2), AfterValidator(_unique)]
Networks = Annotated[list[Network], Field(max_length=50)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- general settings (CC-05) -------------------------------------------------------------------
class SettingsPatch(BaseModel):
    sip_udp_port: int | None = Field(default=None, ge=1, le=65535)
    sip_tcp_port: int | None = Field(default=None, ge=1, le=65535)
    rtp_port_min: int | None = Field(default=None, ge=1024, le=65534)
    rtp_port_max: int | None = Field(default=None, ge=1025, le=65535)
    codecs: Annotated[list[Codec], Field(min_length=1, max_length=2), AfterValidator(_unique)] | None = None
    public_address: Host | None = None
    local_networks: Networks | None = None
    sip_realm: Annotated[Realm, StringConstraints(min_length=1)] | None = None
    recording_enabled: bool | None = None
    recording_mode: Literal["stereo", "mixed"] | None = None
    prompt_language: Literal["vi", "en"] | None = None


class SettingsOut(Out):
    organization_id: str
    sip_udp_port: int
    sip_tcp_port: int
    rtp_port_min: int
    rtp_port_max: int
    codecs: list[str]
    public_address: str
    local_networks: list[str]
    sip_realm: str
    recording_enabled: bool
    recording_mode: str
    prompt_language: str
    updated_at: datetime


# --- extensions (CC-06) -------------------------------------------------------------------------
class ExtensionIn(BaseModel):
    number: ExtNumber
    display_name: Annotated[str, _s(200)] = ""
    secret: Secret
    caller_id_name: Annotated[str, _s(100)] = ""
    caller_id_number: PhoneLike = ""
    codecs: Codecs = Field(default_factory=list)
    recording: Recording = "default"
    max_contacts: int = Field(default=3, ge=1, le=20)
    permit: Networks = Field(default_factory=list)
    enabled: bool = True
    organization_id: Id | None = None  # system administrators choose; others use their own


class ExtensionPatch(BaseModel):
    number: ExtNumber | None = None
    display_name: Annotated[str, _s(200)] | None = None
    secret: Secret | None = None  # a new secret; omitted = unchanged
    caller_id_name: Annotated[str, _s(100)] | None = None
    caller_id_number: PhoneLike | None = None
    codecs: Codecs | None = None
    recording: Recording | None = None
    max_contacts: int | None = Field(default=None, ge=1, le=20)
    permit: Networks | None = None
    enabled: bool | None = None


class ExtensionOut(Out):
    id: str
    organization_id: str
    number: str
    display_name: str
    secret_set: bool
    caller_id_name: str
    caller_id_number: str
    codecs: list[str]
    recording: str
    max_contacts: int
    permit: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


# --- trunks (CC-09) -----------------------------------------------------------------------------
class TrunkIn(BaseModel):
    name: Label
    kind: TrunkKind = "register"
    host: Host = ""
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Transport = "udp"
    username: Annotated[str, _s(100), _check(r"[\x21-\x7e]+", "Tên đăng nhập không có khoảng trắng.")] = ""
    password: Annotated[str, StringConstraints(max_length=128)] = ""
    realm: Realm = ""
    register_interval: int = Field(default=300, ge=60, le=3600)
    allowed_networks: Networks = Field(default_factory=list)
    caller_id_mode: CallerIdMode = "extension"
    caller_id_number: PhoneLike = ""
    max_channels: int = Field(default=0, ge=0, le=10000)
    codecs: Codecs = Field(default_factory=list)
    enabled: bool = True
    organization_id: Id | None = None


class TrunkPatch(BaseModel):
    name: Label | None = None
    kind: TrunkKind | None = None
    host: Host | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    transport: Transport | None = None
    username: Annotated[str, _s(100), _check(r"[\x21-\x7e]+", "Tên đăng nhập không có khoảng trắng.")] | None = None
    password: Annotated[str, StringConstraints(max_length=128)] | None = None  # omitted = unchanged
    realm: Realm | None = None
    register_interval: int | None = Field(default=None, ge=60, le=3600)
    allowed_networks: Networks | None = None
    caller_id_mode: CallerIdMode | None = None
    caller_id_number: PhoneLike | None = None
    max_channels: int | None = Field(default=None, ge=0, le=10000)
    codecs: Codecs | None = None
    enabled: bool | None = None


class TrunkOut(Out):
    id: str
    organization_id: str
    name: str
    kind: str
    host: str
    port: int
    transport: str
    username: str
    password_set: bool
    realm: str
    register_interval: int
    allowed_networks: list[str]
    caller_id_mode: str
    caller_id_number: str
    max_channels: int
    codecs: list[str]
    enabled: bool
    status: str
    status_detail: str
    status_at: datetime | None
    created_at: datetime
    updated_at: datetime


# --- inbound routes (CC-10) ---------------------------------------------------------------------
class DestinationIn(BaseModel):
    kind: DestKind = Field(description="extension: máy nhánh (ref = id máy nhánh); play: phát lời chào rồi "
                                       "gác máy (ref = id tệp âm thanh); route: như tuyến gọi vào khác (ref = id "
                                       "tuyến); number: gọi ra số (ref = số); hangup: gác máy")
    ref: Annotated[str, _s(64)] = ""


class DestinationOut(BaseModel):
    kind: str
    ref: str
    label: str


class InboundRouteIn(BaseModel):
    name: Label
    did_pattern: Pattern = ""
    caller_pattern: Pattern = ""
    prompt_sound_id: Id | None = None
    destination: DestinationIn
    description: Text = ""
    enabled: bool = True
    organization_id: Id | None = None


class InboundRoutePatch(BaseModel):
    name: Label | None = None
    did_pattern: Pattern | None = None
    caller_pattern: Pattern | None = None
    prompt_sound_id: Id | None = None
    destination: DestinationIn | None = None
    description: Text | None = None
    enabled: bool | None = None


class InboundRouteOut(Out):
    id: str
    organization_id: str
    name: str
    did_pattern: str
    caller_pattern: str
    prompt_sound_id: str | None
    destination: DestinationOut
    description: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


# --- PIN sets (CC-14) ---------------------------------------------------------------------------
class PinSetIn(BaseModel):
    name: Label
    description: Text = ""
    pins: Annotated[list[Pin], Field(max_length=1000), AfterValidator(_unique)] = Field(default_factory=list)
    organization_id: Id | None = None


class PinSetPatch(BaseModel):
    name: Label | None = None
    description: Text | None = None
    pins: Annotated[list[Pin], Field(max_length=1000), AfterValidator(_unique)] | None = None


class PinSetOut(Out):
    id: str
    organization_id: str
    name: str
    description: str
    pins: list[str]
    created_at: datetime
    updated_at: datetime


# --- outbound routes (CC-11) --------------------------------------------------------------------
class DialPatternIn(BaseModel):
    prefix: Annotated[str, _s(20), _check(r"[0-9*#+]*", "Tiền tố chỉ gồm chữ số và + * #.")] = ""
    match: Pattern = ""
    prepend: Annotated[str, _s(20), _check(r"[0-9*#+]*", "Phần thêm vào chỉ gồm chữ số và + * #.")] = ""


class OutboundRouteIn(BaseModel):
    name: Label
    patterns: Annotated[list[DialPatternIn], Field(min_length=1, max_length=50)]
    trunk_ids: Annotated[list[Id], Field(min_length=1, max_length=10), AfterValidator(_unique)]
    pin_set_id: Id | None = None
    caller_id_number: PhoneLike = ""
    enabled: bool = True
    organization_id: Id | None = None


class OutboundRoutePatch(BaseModel):
    name: Label | None = None
    patterns: Annotated[list[DialPatternIn], Field(min_length=1, max_length=50)] | None = None
    trunk_ids: Annotated[list[Id], Field(min_length=1, max_length=10), AfterValidator(_unique)] | None = None
    pin_set_id: Id | None = None
    caller_id_number: PhoneLike | None = None
    enabled: bool | None = None


class OutboundRouteOut(Out):
    id: str
    organization_id: str
    name: str
    position: int
    patterns: list[DialPatternIn]
    trunk_ids: list[str]
    pin_set_id: str | None
    caller_id_number: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


class MoveIn(BaseModel):
    position: int = Field(ge=1, le=10000, description="Vị trí mới, từ 1 (thử trước)")


# --- sound files (CC-12) ------------------------------------------------------------------------
class SoundPatch(BaseModel):
    name: Label | None = None
    description: Text | None = None


class SoundOut(Out):
    id: str
    organization_id: str
    name: str
    description: str
    original_filename: str
    original_format: str
    size: int
    duration_ms: int
    audio_url: str
    created_at: datetime
    updated_at: datetime


# --- staging and apply --------------------------------------------------------------------------
class StatusOut(BaseModel):
    organization_id: str
    revision: int
    applied_revision: int
    dirty: bool = Field(description="Có thay đổi chưa áp dụng")
    changed_at: datetime | None
    applied_at: datetime | None
    applied_by: str


class CheckOut(BaseModel):
    ok: bool
    errors: list[dict[str, str]]


class ApplyOut(BaseModel):
    revision: int
    applied_at: datetime
    message: str


# --- call records (CC-21, CRM-08) ---------------------------------------------------------------
class CallLegOut(Out):
    id: str
    seq: int
    role: str
    endpoint_kind: str
    endpoint: str
    number: str
    remote_address: str
    codec: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    disposition: str
    sip_cause: int | None
    packets_sent: int
    packets_received: int
    packets_lost: int
    jitter_ms: float | None
    rtt_ms: float | None


class CallOut(Out):
    id: str
    organization_id: str
    direction: str
    caller: str
    caller_name: str
    called: str
    extension: str
    trunk_name: str
    route_name: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    disposition: str
    hangup_by: str
    sip_cause: int | None
    duration: int
    billsec: int
    has_recording: bool


class CallDetailOut(CallOut):
    sip_call_id: str
    legs: list[CallLegOut]
    recording_url: str | None
