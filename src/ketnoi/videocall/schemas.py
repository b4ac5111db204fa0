"""Request and response shapes of the video-call API (VC-01, 02, 11, 12)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50,
                                        pattern=r"^[A-Za-z0-9_.\-]+$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Ident = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Strategy(str, Enum):
    RING_ALL = "ring_all"
    LEAST_RECENT = "least_recent"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"


class AgentStatus(str, Enum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    PAUSED = "paused"


# --- starting a call ------------------------------------------------------------------------------
class CallerIn(BaseModel):
    """Who calls, as the partner knows them (VC-02): identity and the unit/team/group used for routing."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        description="Mã tài khoản người gọi trong hệ thống đối tác (một cuộc gọi đồng thời mỗi tài khoản)")
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""
    user: Short = ""
    team: Short = ""
    group: Short = ""
    unit: Short = ""


class StartCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hotline: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)] = Field(
        description="Số/mã hotline được gọi, ví dụ 1022")
    caller: CallerIn
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")] = "vi"
    vip: bool = False
    attributes: dict[Annotated[str, StringConstraints(min_length=1, max_length=40)],
                     Annotated[str, StringConstraints(max_length=200)] | int | bool] = Field(
        default_factory=dict, description="Thuộc tính tự do dùng trong điều kiện phân tuyến (tối đa 20)")

    @field_validator("attributes")
    @classmethod
    def _few(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(v) > 20:
            raise ValueError("Tối đa 20 thuộc tính.")
        return v


class CallTokenIn(BaseModel):
    """A partner backend asks for a one-time call token for its app user (VC-01 via JWT)."""

    model_config = ConfigDict(extra="forbid")
    hotline: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]
    caller: CallerIn | None = Field(None, description="Bỏ trống khi người dùng ketnoi tự xin mã cho mình")
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")] = "vi"
    vip: bool = False


class CallTokenOut(BaseModel):
    token: str
    expires_at: datetime


class Credentials(BaseModel):
    """What one participant needs to join: shown once; the secret signs every signalling message."""

    participant_id: str
    role: str
    token: str
    secret: str
    expires_at: datetime
    signal_url: str
    sdk_url: str


class CallerRef(BaseModel):
    id: str
    name: str
    phone: str
    user: str
    team: str
    group: str
    unit: str


class CallEventOut(BaseModel):
    seq: int
    at: datetime
    type: str
    actor: str
    message: str
    data: dict[str, Any]


class ParticipantOut(BaseModel):
    id: str
    role: str
    name: str
    agent_id: str | None
    joined_at: datetime | None
    left_at: datetime | None
    media_state: str
    reconnects: int
    quality: dict[str, Any]


class CallOut(BaseModel):
    id: str
    code: str
    status: str
    status_label: str
    hotline: str | None
    hotline_name: str | None
    caller: CallerRef
    language: str
    vip: bool
    attributes: dict[str, Any]
    auth_method: str
    queue_id: str | None
    group_id: str | None
    agent_id: str | None
    agent_name: str | None
    routing_path: list[dict[str, Any]]
    janus_instance: str
    created_at: datetime
    answered_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    ended_by: str
    end_reason: str
    end_reason_label: str
    wait_seconds: float | None
    talk_seconds: float | None
    reconnects: int
    quality: dict[str, Any]
    recording_status: str
    recording_url: str | None
    recording_seconds: float | None
    participants: list[ParticipantOut] = []
    timeline: list[CallEventOut] = []


class StartCallOut(BaseModel):
    call: CallOut
    participant: Credentials


class AcceptOut(BaseModel):
    call: CallOut
    participant: Credentials


class AgentStatusIn(BaseModel):
    status: AgentStatus


class AgentMe(BaseModel):
    agent_id: str | None
    display_name: str
    status: str
    status_label: str
    ringing: list[dict[str, Any]]
    current_call: str | None


class HangupIn(BaseModel):
    reason: Annotated[str, StringConstraints(max_length=200)] = ""


# --- configuration (VC-11, 18) ----------------------------------------------------------------
class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code
    name: Name
    organization_id: Ident | None = None


class PartnerOut(BaseModel):
    id: str
    code: str
    name: str
    key_id: str
    is_active: bool
    organization_id: str
    secret: str | None = None


class HotlineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30,
                                             pattern=r"^[A-Za-z0-9_.\-]+$")]
    name: Name
    queue_id: Ident | None = None
    greeting_start_id: Ident | None = None
    greeting_end_id: Ident | None = None
    is_active: bool = True


class QueueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code
    name: Name
    max_wait_seconds: int = Field(120, ge=10, le=3600)
    waiting_file_id: Ident | None = None
    group_ids: list[Ident] = Field(default_factory=list, max_length=20)
    is_active: bool = True


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code
    name: Name
    strategy: Strategy = Strategy.RING_ALL
    conditions: dict[str, Any] = Field(default_factory=dict)
    agent_ring_seconds: int = Field(20, ge=5, le=300)
    overflow_seconds: int = Field(45, ge=5, le=3600)
    fallback_group_id: Ident | None = None
    is_active: bool = True


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Ident
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    group_ids: list[Ident] = Field(default_factory=list, max_length=50)
    is_active: bool = True
