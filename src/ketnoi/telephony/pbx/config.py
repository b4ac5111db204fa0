"""The applied PBX configuration: an immutable tree of frozen dataclasses the call engine swaps in
atomically (CC-05…14 "Apply"). Pure code: no database, no I/O.

``PbxConfig`` holds only enabled objects. Destinations are typed ``(kind, ref)`` with an optional
``next`` step (a prompt that is followed by something else), already resolved at apply time: no
route-to-route jumps remain. Kinds the engine must handle now:

  * ``extension``  ref = extension number: ring it;
  * ``play``       ref = sound id: play the prompt, then go to ``next`` (hang up when None);
  * ``number``     ref = a number: dial it through the outbound routes (match_outbound);
  * ``hangup``     no ref: hang up.

The call-center issue adds ``ivr``, ``queue``, ``conference`` and ``time_condition`` (ref = object id).
Trunk passwords are kept sealed when the snapshot is stored and opened when it is loaded.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field, fields
from typing import Any

DEST_EXTENSION, DEST_PLAY, DEST_NUMBER, DEST_HANGUP = "extension", "play", "number", "hangup"
FORMAT = 1  # version of the stored snapshot layout


@dataclass(frozen=True)
class Destination:
    kind: str
    ref: str = ""
    next: Destination | None = None

    def steps(self) -> list[Destination]:
        """The chain flattened: e.g. [play welcome, extension 1001]."""
        out, d = [], self
        while d is not None:
            out.append(d)
            d = d.next
        return out


@dataclass(frozen=True)
class GeneralConfig:
    sip_udp_port: int = 5060
    sip_tcp_port: int = 5060
    rtp_port_min: int = 10000
    rtp_port_max: int = 20000
    codecs: tuple[str, ...] = ("PCMA", "PCMU")  # preference order; telephone-event is always offered
    public_address: str = ""
    local_networks: tuple[str, ...] = ()
    realm: str = "ketnoi"
    recording_enabled: bool = False
    recording_mode: str = "stereo"  # stereo (one channel per party) | mixed
    prompt_language: str = "vi"


@dataclass(frozen=True)
class ExtensionConfig:
    id: str
    number: str
    display_name: str
    ha1_md5: str  # MD5(number:realm:secret), RFC 8760 §3
    ha1_sha256: str  # SHA-256(number:realm:secret)
    caller_id_name: str
    caller_id_number: str
    codecs: tuple[str, ...]  # resolved: the extension's own order or the general one
    record: bool  # resolved against the general recording default
    max_contacts: int
    permit: tuple[str, ...]  # networks allowed to register; empty = anywhere
    enabled: bool = True

    def permits(self, address: str) -> bool:
        return not self.permit or _in_networks(address, self.permit)


@dataclass(frozen=True)
class TrunkConfig:
    id: str
    name: str
    kind: str  # register | peer
    host: str
    port: int
    transport: str  # udp | tcp
    username: str
    password: str  # plain in memory only; sealed in the stored snapshot
    realm: str
    register_interval: int
    allowed_networks: tuple[str, ...]
    caller_id_mode: str  # extension | fixed | anonymous
    caller_id_number: str
    max_channels: int  # 0 = unlimited
    codecs: tuple[str, ...]
    enabled: bool = True

    def accepts_from(self, address: str) -> bool:
        return _in_networks(address, self.allowed_networks)


@dataclass(frozen=True)
class InboundRouteConfig:
    id: str
    name: str
    did: str  # pattern (patterns.py)
    caller: str  # pattern; empty = any
    destination: Destination
    enabled: bool = True


@dataclass(frozen=True)
class DialPattern:
    prefix: str = ""  # literal digits the caller dials first; stripped
    match: str = ""  # pattern for the rest (patterns.py); empty = anything
    prepend: str = ""  # put in front of the rest before it is sent


@dataclass(frozen=True)
class OutboundRouteConfig:
    id: str
    name: str
    position: int
    patterns: tuple[DialPattern, ...]
    trunk_ids: tuple[str, ...]  # failover order
    pin_set_id: str = ""
    caller_id_number: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class PinSetConfig:
    id: str
    name: str
    pins: tuple[str, ...]


@dataclass(frozen=True)
class SoundConfig:
    id: str
    name: str
    path: str  # absolute path of the 8 kHz mono 16-bit WAV
    duration_ms: int


@dataclass(frozen=True)
class PbxConfig:
    organization_id: str
    revision: int
    applied_at: str  # ISO 8601
    settings: GeneralConfig
    extensions: tuple[ExtensionConfig, ...] = ()
    trunks: tuple[TrunkConfig, ...] = ()
    inbound_routes: tuple[InboundRouteConfig, ...] = ()
    outbound_routes: tuple[OutboundRouteConfig, ...] = ()  # in position order
    pin_sets: tuple[PinSetConfig, ...] = ()
    sounds: tuple[SoundConfig, ...] = ()
    _index: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index.update(
            extension={e.number: e for e in self.extensions}, trunk={t.id: t for t in self.trunks},
            route={r.id: r for r in self.inbound_routes}, pin_set={p.id: p for p in self.pin_sets},
            sound={s.id: s for s in self.sounds})

    def extension(self, number: str) -> ExtensionConfig | None:
        return self._index["extension"].get(number)

    def trunk(self, trunk_id: str) -> TrunkConfig | None:
        return self._index["trunk"].get(trunk_id)

    def inbound_route(self, route_id: str) -> InboundRouteConfig | None:
        return self._index["route"].get(route_id)

    def pin_set(self, pin_set_id: str) -> PinSetConfig | None:
        return self._index["pin_set"].get(pin_set_id)

    def sound(self, sound_id: str) -> SoundConfig | None:
        return self._index["sound"].get(sound_id)

    def trunk_for_address(self, address: str) -> TrunkConfig | None:
        """The peer trunk whose allowed networks hold ``address`` (apply forbids overlaps)."""
        for t in self.trunks:
            if t.kind == "peer" and t.accepts_from(address):
                return t
        return None

    def enabled_only(self) -> PbxConfig:
        return PbxConfig(
            self.organization_id, self.revision, self.applied_at, self.settings,
            tuple(e for e in self.extensions if e.enabled), tuple(t for t in self.trunks if t.enabled),
            tuple(r for r in self.inbound_routes if r.enabled),
            tuple(r for r in self.outbound_routes if r.enabled), self.pin_sets, self.sounds)


def _in_networks(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    for net in networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


# --- storing and loading the snapshot ----------------------------------------------------------
def to_dict(cfg: PbxConfig, seal=lambda s: s) -> dict[str, Any]:
    """JSON-safe form; ``seal`` protects trunk passwords (secretbox.seal)."""
    d: dict[str, Any] = {}
    for f in fields(cfg):
        if f.name != "_index":
            v = getattr(cfg, f.name)
            d[f.name] = [asdict(x) for x in v] if isinstance(v, tuple) else asdict(v) if f.name == "settings" else v
    for t in d["trunks"]:
        t["password"] = seal(t["password"]) if t["password"] else ""
    d["format"] = FORMAT
    return d


def _dest(d: dict[str, Any] | None) -> Destination | None:
    if d is None:
        return None
    return Destination(d["kind"], d.get("ref", ""), _dest(d.get("next")))


def from_dict(d: dict[str, Any], unseal=lambda s: s) -> PbxConfig:
    def tup(x):
        return tuple(x or ())

    s = d["settings"]
    settings = GeneralConfig(**{**s, "codecs": tup(s["codecs"]), "local_networks": tup(s["local_networks"])})
    return PbxConfig(
        organization_id=d["organization_id"], revision=d["revision"], applied_at=d["applied_at"],
        settings=settings,
        extensions=tuple(ExtensionConfig(**{**e, "codecs": tup(e["codecs"]), "permit": tup(e["permit"])})
                         for e in d["extensions"]),
        trunks=tuple(TrunkConfig(**{**t, "password": unseal(t["password"]) if t["password"] else "",
                                    "allowed_networks": tup(t["allowed_networks"]), "codecs": tup(t["codecs"])})
                     for t in d["trunks"]),
        inbound_routes=tuple(InboundRouteConfig(**{**r, "destination": _dest(r["destination"])})
                             for r in d["inbound_routes"]),
        outbound_routes=tuple(OutboundRouteConfig(**{**r, "patterns": tuple(DialPattern(**p) for p in r["patterns"]),
                                                     "trunk_ids": tup(r["trunk_ids"])})
                              for r in d["outbound_routes"]),
        pin_sets=tuple(PinSetConfig(**{**p, "pins": tup(p["pins"])}) for p in d["pin_sets"]),
        sounds=tuple(SoundConfig(**x) for x in d["sounds"]))
