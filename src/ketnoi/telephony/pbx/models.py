"""Tables of the PBX (CC-05…14, CC-21): general settings, extensions, SIP trunks, inbound and outbound
routes, PIN sets, sound files, the staging/apply state with the applied snapshot, and call records
with their legs (CRM-08)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketnoi.db.base import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow

ORG_FK = "organizations.id"


class PbxSettings(IdMixin, TimestampMixin, Base):
    """General settings of one organization's PBX (CC-05); one row per organization."""

    __tablename__ = "pbx_settings"
    organization_id: Mapped[str] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"), unique=True)
    sip_udp_port: Mapped[int] = mapped_column(Integer, default=5060)
    sip_tcp_port: Mapped[int] = mapped_column(Integer, default=5060)
    rtp_port_min: Mapped[int] = mapped_column(Integer, default=10000)
    rtp_port_max: Mapped[int] = mapped_column(Integer, default=20000)
    codecs: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["PCMA", "PCMU"])
    public_address: Mapped[str] = mapped_column(String(255), default="")  # NAT: address put in SDP/Contact
    local_networks: Mapped[list[str]] = mapped_column(JSON, default=list)  # CIDRs not behind the NAT
    sip_realm: Mapped[str] = mapped_column(String(100), default="ketnoi")  # digest realm (RFC 8760)
    recording_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    recording_mode: Mapped[str] = mapped_column(String(10), default="stereo")  # stereo | mixed
    prompt_language: Mapped[str] = mapped_column(String(10), default="vi")


class PbxState(IdMixin, Base):
    """Staging and Apply: ``revision`` counts staged changes, ``applied_revision`` is the revision the
    immutable snapshot ``applied_config`` was built from; they differ while changes are unapplied."""

    __tablename__ = "pbx_state"
    organization_id: Mapped[str] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"), unique=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    applied_revision: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    applied_by: Mapped[str] = mapped_column(String(200), default="")
    applied_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Extension(IdMixin, TimestampMixin, Base):
    """An extension (máy nhánh, CC-06). The secret is write-only: kept as the digest HA1 of MD5 and
    SHA-256 for ``ha1_realm`` (what the registrar needs) and sealed (ketnoi.telephony.pbx.secretbox)
    so that the HA1 can be recomputed when the realm changes; it is never shown again."""

    __tablename__ = "pbx_extensions"
    __table_args__ = (UniqueConstraint("organization_id", "number", name="uq_pbx_extensions_org_number"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    secret_sealed: Mapped[str] = mapped_column(String(400), default="")
    ha1_md5: Mapped[str] = mapped_column(String(32), default="")
    ha1_sha256: Mapped[str] = mapped_column(String(64), default="")
    ha1_realm: Mapped[str] = mapped_column(String(100), default="")
    caller_id_name: Mapped[str] = mapped_column(String(100), default="")
    caller_id_number: Mapped[str] = mapped_column(String(32), default="")
    codecs: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty = the general order
    recording: Mapped[str] = mapped_column(String(10), default="default")  # default | on | off
    max_contacts: Mapped[int] = mapped_column(Integer, default=3)
    permit: Mapped[list[str]] = mapped_column(JSON, default=list)  # CIDRs allowed to register; empty = any
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Trunk(IdMixin, TimestampMixin, Base):
    """A SIP trunk (CC-09): registering to a provider, or a peer authenticated by its address.
    ``status`` is runtime state written by the engine, not a staged setting."""

    __tablename__ = "pbx_trunks"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_pbx_trunks_org_name"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10), default="register")  # register | peer
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=5060)
    transport: Mapped[str] = mapped_column(String(5), default="udp")  # udp | tcp
    username: Mapped[str] = mapped_column(String(100), default="")
    password_sealed: Mapped[str] = mapped_column(String(400), default="")
    realm: Mapped[str] = mapped_column(String(100), default="")  # empty = the provider's challenge
    register_interval: Mapped[int] = mapped_column(Integer, default=300)
    allowed_networks: Mapped[list[str]] = mapped_column(JSON, default=list)  # peer: IPs/CIDRs
    caller_id_mode: Mapped[str] = mapped_column(String(12), default="extension")  # extension|fixed|anonymous
    caller_id_number: Mapped[str] = mapped_column(String(32), default="")
    max_channels: Mapped[int] = mapped_column(Integer, default=0)  # 0 = unlimited
    codecs: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(12), default="unknown")  # registered | reachable | unreachable | unknown
    status_detail: Mapped[str] = mapped_column(String(300), default="")
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SoundFile(IdMixin, TimestampMixin, Base):
    """A prompt (CC-12), stored converted to 8 kHz mono 16-bit WAV under data_dir/telephony/sounds."""

    __tablename__ = "pbx_sounds"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_pbx_sounds_org_name"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(500), default="")
    original_filename: Mapped[str] = mapped_column(String(255), default="")
    original_format: Mapped[str] = mapped_column(String(10), default="")  # wav | mp3
    storage_name: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class InboundRoute(IdMixin, TimestampMixin, Base):
    """DID and caller-ID patterns → a destination (CC-10). The destination is typed: ``dest_kind`` names
    what ``dest_ref`` points at (see destinations.KINDS); an optional prompt plays first."""

    __tablename__ = "pbx_inbound_routes"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_pbx_inbound_routes_org_name"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    did_pattern: Mapped[str] = mapped_column(String(64), default="")  # empty = any DID
    caller_pattern: Mapped[str] = mapped_column(String(64), default="")  # empty = any caller
    prompt_sound_id: Mapped[str | None] = mapped_column(ForeignKey("pbx_sounds.id", ondelete="RESTRICT"),
                                                        nullable=True, index=True)
    dest_kind: Mapped[str] = mapped_column(String(20), default="extension")
    dest_ref: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class PinSet(IdMixin, TimestampMixin, Base):
    """A set of PINs an outbound route may ask for (CC-14)."""

    __tablename__ = "pbx_pin_sets"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_pbx_pin_sets_org_name"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    pins: Mapped[list[str]] = mapped_column(JSON, default=list)


class OutboundRoute(IdMixin, TimestampMixin, Base):
    """Dial patterns → ordered trunks with failover (CC-11); routes are tried in ``position`` order."""

    __tablename__ = "pbx_outbound_routes"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_pbx_outbound_routes_org_name"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # [{"prefix": "9", "match": "_0XXXXXXXXX", "prepend": ""}, ...]
    patterns: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    pin_set_id: Mapped[str | None] = mapped_column(ForeignKey("pbx_pin_sets.id", ondelete="RESTRICT"),
                                                   nullable=True, index=True)
    caller_id_number: Mapped[str] = mapped_column(String(32), default="")  # overrides the trunk's, if set
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    trunk_links: Mapped[list[OutboundRouteTrunk]] = relationship(
        order_by="OutboundRouteTrunk.position", cascade="all, delete-orphan", lazy="selectin")

    @property
    def trunk_ids(self) -> list[str]:
        return [link.trunk_id for link in self.trunk_links]


class OutboundRouteTrunk(Base):
    """The ordered trunks of an outbound route (failover order)."""

    __tablename__ = "pbx_outbound_route_trunks"
    route_id: Mapped[str] = mapped_column(ForeignKey("pbx_outbound_routes.id", ondelete="CASCADE"),
                                          primary_key=True)
    trunk_id: Mapped[str] = mapped_column(ForeignKey("pbx_trunks.id", ondelete="RESTRICT"), primary_key=True,
                                          index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


# --- call records (CC-21, CRM-08) ---------------------------------------------------------------
class CallRecord(IdMixin, Base):
    """One call as the caller lived it, with its legs. Written by the engine through cdr.py."""

    __tablename__ = "call_records"
    __table_args__ = (Index("ix_call_records_org_started", "organization_id", "started_at"),
                      Index("ix_call_records_org_caller", "organization_id", "caller"),
                      Index("ix_call_records_org_called", "organization_id", "called"))
    organization_id: Mapped[str] = mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))
    sip_call_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound | internal
    caller: Mapped[str] = mapped_column(String(64), default="")
    caller_name: Mapped[str] = mapped_column(String(200), default="")
    called: Mapped[str] = mapped_column(String(64), default="")
    extension: Mapped[str] = mapped_column(String(20), default="")  # the extension that placed/answered it
    trunk_id: Mapped[str] = mapped_column(String(32), default="")
    trunk_name: Mapped[str] = mapped_column(String(100), default="")
    route_name: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disposition: Mapped[str] = mapped_column(String(12), default="")  # empty while live
    hangup_by: Mapped[str] = mapped_column(String(10), default="")  # caller | callee | system
    sip_cause: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration: Mapped[int] = mapped_column(Integer, default=0)  # seconds, start → end
    billsec: Mapped[int] = mapped_column(Integer, default=0)  # seconds, answer → end
    recording_path: Mapped[str] = mapped_column(String(300), default="")  # relative to data_dir/recordings

    legs: Mapped[list[CallLeg]] = relationship(order_by="CallLeg.seq", cascade="all, delete-orphan",
                                               back_populates="call", lazy="selectin")


class CallLeg(IdMixin, Base):
    """One SIP dialog of a call (caller side, each callee tried), with RTCP quality (RFC 3550 §6.4)."""

    __tablename__ = "call_legs"
    call_id: Mapped[str] = mapped_column(ForeignKey("call_records.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    role: Mapped[str] = mapped_column(String(10))  # caller | callee
    endpoint_kind: Mapped[str] = mapped_column(String(10))  # extension | trunk
    endpoint: Mapped[str] = mapped_column(String(100), default="")  # extension number or trunk name
    trunk_id: Mapped[str] = mapped_column(String(32), default="")
    number: Mapped[str] = mapped_column(String(64), default="")  # the number this leg dialled/was reached at
    sip_call_id: Mapped[str] = mapped_column(String(255), default="")
    remote_address: Mapped[str] = mapped_column(String(64), default="")
    codec: Mapped[str] = mapped_column(String(10), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disposition: Mapped[str] = mapped_column(String(12), default="")
    sip_cause: Mapped[int | None] = mapped_column(Integer, nullable=True)
    packets_sent: Mapped[int] = mapped_column(Integer, default=0)
    packets_received: Mapped[int] = mapped_column(Integer, default=0)
    packets_lost: Mapped[int] = mapped_column(Integer, default=0)
    jitter_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    rtt_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")

    call: Mapped[CallRecord] = relationship(back_populates="legs")
