"""Hand-built snapshots for the pure tests of routing and validation (no database)."""

from __future__ import annotations

from ketnoi.telephony.pbx.config import (
    Destination,
    DialPattern,
    ExtensionConfig,
    GeneralConfig,
    InboundRouteConfig,
    OutboundRouteConfig,
    PbxConfig,
    PinSetConfig,
    TrunkConfig,
)


def ext(number: str, enabled: bool = True, codecs=("PCMA", "PCMU")) -> ExtensionConfig:
    return ExtensionConfig(id=f"e{number}", number=number, display_name=f"Máy {number}", ha1_md5="0" * 32,
                           ha1_sha256="0" * 64, caller_id_name="", caller_id_number="", codecs=tuple(codecs),
                           record=False, max_contacts=3, permit=(), enabled=enabled)


def trunk(tid: str, kind: str = "register", enabled: bool = True, host: str = "sip.nhamang.vn",
          networks=(), password: str = "bimat") -> TrunkConfig:
    return TrunkConfig(id=tid, name=f"Trunk {tid}", kind=kind, host=host, port=5060, transport="udp",
                       username="user" if kind == "register" else "", password=password if kind == "register" else "",
                       realm="", register_interval=300, allowed_networks=tuple(networks), caller_id_mode="extension",
                       caller_id_number="", max_channels=0, codecs=("PCMA",), enabled=enabled)


def inbound(rid: str, did: str = "", caller: str = "", dest: Destination | None = None,
            enabled: bool = True) -> InboundRouteConfig:
    return InboundRouteConfig(rid, f"Tuyến {rid}", did, caller, dest or Destination("extension", "1001"), enabled)


def outbound(rid: str, pats, trunks, position: int = 1, pin_set: str = "", enabled: bool = True) -> OutboundRouteConfig:
    return OutboundRouteConfig(rid, f"Gọi ra {rid}", position, tuple(DialPattern(*p) for p in pats), tuple(trunks),
                               pin_set, "", enabled)


def config(extensions=(), trunks=(), inbound_routes=(), outbound_routes=(), pin_sets=(), settings=None) -> PbxConfig:
    return PbxConfig("org", 1, "2026-11-22T00:00:00+00:00", settings or GeneralConfig(), tuple(extensions),
                     tuple(trunks), tuple(inbound_routes), tuple(outbound_routes), tuple(pin_sets), ())


def pins(pid: str, *codes: str) -> PinSetConfig:
    return PinSetConfig(pid, f"Bộ {pid}", tuple(codes))
