"""Tables of the video-call module (VC-01…28).

Configuration (what the partner's backend creates through the API, VC-11/18):
  VcPartner   a partner application (e.g. the sales app) with its API key; the HMAC secret is derived
              from the server key and a salt, shown once, never stored.
  VcHotline   the number a caller dials (``1022``, ``SALES``); points at one queue; start/end greetings.
  VcQueue     waiting file, maximum wait, and the ordered groups calls may go to.
  VcGroup     a support group: conditions on the call (VC-17), a ring strategy, overflow to a
              fallback group after a timeout.
  VcAgent     a ketnoi user who answers video calls, with availability; VcMembership puts agents in groups.
Calls (VC-01…10, 12, 14):
  VcCall         one call: caller identity and routing attributes, state, Janus room, figures, recording.
  VcParticipant  caller or agent in a call; their tokens are derived from a salt (never stored).
  VcRing         one agent rung for a call and how it ended (accepted, declined, timeout, cancelled).
  VcCallEvent    the append-only timeline of a call (created, queued, rang whom, answered by,
                 reconnects, ended by, reason).
Security: VcNonce (replay protection), VcAuthFailure (refused signed requests, VC-13/19).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketnoi.db.base import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow

STRATEGIES = ("ring_all", "least_recent", "round_robin", "fewest_calls")
STRATEGY_LABELS = {"ring_all": "Đổ chuông tất cả", "least_recent": "Người nghỉ lâu nhất",
                   "round_robin": "Xoay vòng", "fewest_calls": "Ít cuộc gọi nhất"}
AGENT_STATUSES = ("offline", "available", "paused", "busy")
AGENT_STATUS_LABELS = {"offline": "Ngoại tuyến", "available": "Sẵn sàng", "paused": "Tạm nghỉ", "busy": "Đang gọi"}
CALL_STATUSES = ("queued", "ringing", "answered", "connected", "reconnecting", "ended")
CALL_STATUS_LABELS = {"queued": "Đang chờ", "ringing": "Đang đổ chuông", "answered": "Đã nhận, đang kết nối",
                      "connected": "Đang đàm thoại", "reconnecting": "Đang kết nối lại", "ended": "Đã kết thúc"}
ACTIVE_STATUSES = ("queued", "ringing", "answered", "connected", "reconnecting")


class VcPartner(IdMixin, TimestampMixin, Base):
    __tablename__ = "vc_partners"
    __table_args__ = (UniqueConstraint("organization_id", "code", name="uq_vc_partners_org_code"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(40), unique=True)
    salt: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class VcMediaFile(IdMixin, Base):
    """An uploaded waiting file or greeting (VC-16, 18), stored under data_dir/videocall/media."""

    __tablename__ = "vc_media_files"
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    storage_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VcQueue(IdMixin, TimestampMixin, Base):
    __tablename__ = "vc_queues"
    __table_args__ = (UniqueConstraint("organization_id", "code", name="uq_vc_queues_org_code"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    max_wait_seconds: Mapped[int] = mapped_column(Integer, default=120)
    waiting_file_id: Mapped[str | None] = mapped_column(ForeignKey("vc_media_files.id", ondelete="SET NULL"),
                                                        nullable=True)
    # group ids in the order they are tried (the first whose conditions match the call)
    group_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class VcHotline(IdMixin, TimestampMixin, Base):
    __tablename__ = "vc_hotlines"
    __table_args__ = (UniqueConstraint("organization_id", "number", name="uq_vc_hotlines_org_number"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200))
    queue_id: Mapped[str | None] = mapped_column(ForeignKey("vc_queues.id", ondelete="SET NULL"), nullable=True)
    greeting_start_id: Mapped[str | None] = mapped_column(ForeignKey("vc_media_files.id", ondelete="SET NULL"),
                                                          nullable=True)
    greeting_end_id: Mapped[str | None] = mapped_column(ForeignKey("vc_media_files.id", ondelete="SET NULL"),
                                                        nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class VcGroup(IdMixin, TimestampMixin, Base):
    __tablename__ = "vc_groups"
    __table_args__ = (UniqueConstraint("organization_id", "code", name="uq_vc_groups_org_code"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    strategy: Mapped[str] = mapped_column(String(20), default="ring_all")
    # {"unit": [...], "team": [...], "group": [...], "user": [...], "language": [...], "vip": true,
    #  "hours": "07:30-17:00", "weekdays": [1..7], "attributes": {"key": [values]}} — all given must match
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    agent_ring_seconds: Mapped[int] = mapped_column(Integer, default=20)  # one agent, for one-by-one strategies
    overflow_seconds: Mapped[int] = mapped_column(Integer, default=45)  # then the fallback group
    fallback_group_id: Mapped[str | None] = mapped_column(ForeignKey("vc_groups.id", ondelete="SET NULL"),
                                                          nullable=True)
    rr_cursor: Mapped[int] = mapped_column(Integer, default=-1)  # round robin: index of the last member rung
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class VcAgent(IdMixin, TimestampMixin, Base):
    __tablename__ = "vc_agents"
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10), default="offline")
    status_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_call_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class VcMembership(Base):
    __tablename__ = "vc_memberships"
    group_id: Mapped[str] = mapped_column(ForeignKey("vc_groups.id", ondelete="CASCADE"), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("vc_agents.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class VcAgentStatusLog(IdMixin, Base):
    """Every change of an agent's availability (VC-23 online/offline time)."""

    __tablename__ = "vc_agent_status_log"
    agent_id: Mapped[str] = mapped_column(ForeignKey("vc_agents.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class VcCall(IdMixin, Base):
    __tablename__ = "vc_calls"
    __table_args__ = (Index("ix_vc_calls_org_created", "organization_id", "created_at"),
                      Index("ix_vc_calls_status", "status"),
                      Index("ix_vc_calls_caller_key_status", "caller_key", "status"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(30), unique=True)
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("vc_partners.id", ondelete="SET NULL"), nullable=True)
    hotline_id: Mapped[str | None] = mapped_column(ForeignKey("vc_hotlines.id", ondelete="SET NULL"), nullable=True)
    queue_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    group_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the group now (or that answered)
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("vc_agents.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    status: Mapped[str] = mapped_column(String(15), default="queued")
    # who the caller is, as the partner says (VC-02): identity and routing attributes
    caller_key: Mapped[str] = mapped_column(String(200))  # one active call per caller account (VC-10)
    caller_ref: Mapped[str] = mapped_column(String(100), default="")
    caller_name: Mapped[str] = mapped_column(String(200), default="")
    caller_phone: Mapped[str] = mapped_column(String(20), default="")
    caller_user: Mapped[str] = mapped_column(String(100), default="")
    caller_team: Mapped[str] = mapped_column(String(100), default="")
    caller_group: Mapped[str] = mapped_column(String(100), default="")
    caller_unit: Mapped[str] = mapped_column(String(100), default="")
    language: Mapped[str] = mapped_column(String(10), default="vi")
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    auth_method: Mapped[str] = mapped_column(String(10), default="hmac")  # hmac | jwt
    # routing state: [{"group": id, "code", "at", "why"}] and the deadlines the ticker watches
    routing_path: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    group_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    # media
    janus_instance: Mapped[str] = mapped_column(String(100), default="")
    janus_room: Mapped[str] = mapped_column(String(64), default="")
    # times and outcome
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_by: Mapped[str] = mapped_column(String(20), default="")  # caller | agent | system | partner
    end_reason: Mapped[str] = mapped_column(String(30), default="")
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # recording (VC-12): none | pending | processing | ready | failed
    recording_status: Mapped[str] = mapped_column(String(12), default="none")
    recording_path: Mapped[str] = mapped_column(String(500), default="")
    recording_seconds: Mapped[float | None] = mapped_column(nullable=True)
    recording_error: Mapped[str] = mapped_column(String(500), default="")

    participants: Mapped[list[VcParticipant]] = relationship(back_populates="call", order_by="VcParticipant.created_at")


class VcParticipant(IdMixin, Base):
    __tablename__ = "vc_participants"
    call_id: Mapped[str] = mapped_column(ForeignKey("vc_calls.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # caller | agent
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("vc_agents.id", ondelete="SET NULL"), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the agent's login session
    display_name: Mapped[str] = mapped_column(String(200), default="")
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # connection as last reported: signalling online/offline, media state
    signal_online: Mapped[bool] = mapped_column(Boolean, default=False)
    signal_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    media_state: Mapped[str] = mapped_column(String(15), default="new")  # new|connecting|connected|reconnecting|left
    media_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # last figures the client reported

    call: Mapped[VcCall] = relationship(back_populates="participants")


class VcRing(IdMixin, Base):
    __tablename__ = "vc_rings"
    __table_args__ = (Index("ix_vc_rings_call_open", "call_id", "ended_at"),)
    call_id: Mapped[str] = mapped_column(ForeignKey("vc_calls.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("vc_agents.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())  # this agent stops ringing then
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str] = mapped_column(String(12), default="")  # accepted|declined|timeout|cancelled


class VcCallEvent(IdMixin, Base):
    __tablename__ = "vc_call_events"
    __table_args__ = (Index("ix_vc_call_events_call_seq", "call_id", "seq"),)
    call_id: Mapped[str] = mapped_column(ForeignKey("vc_calls.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(20), default="system")  # system|caller|agent|partner
    agent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message: Mapped[str] = mapped_column(String(500), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class VcNonce(Base):
    """Nonces (and single-use token ids) seen within their freshness window."""

    __tablename__ = "vc_nonces"
    scope: Mapped[str] = mapped_column(String(60), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(100), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class VcAuthFailure(IdMixin, Base):
    """A refused signed request, JWT or signalling message (VC-13), for the fault look-up (VC-19)."""

    __tablename__ = "vc_auth_failures"
    organization_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    channel: Mapped[str] = mapped_column(String(10))  # http | jwt | signal
    key_id: Mapped[str] = mapped_column(String(60), default="")
    call_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    path: Mapped[str] = mapped_column(String(300), default="")
