"""Whole-configuration rules checked by Apply (CC-05…14). Pure: a draft PbxConfig (disabled objects
included, with their flags) in, a list of ``{"field", "message"}`` errors out, each naming the
object (``<collection>.<id>``) and saying what to change, in Vietnamese."""

from __future__ import annotations

import ipaddress
from itertools import combinations

from ketnoi.telephony.pbx import patterns
from ketnoi.telephony.pbx.config import DEST_NUMBER, PbxConfig
from ketnoi.telephony.pbx.routing import compiled, inbound_key, match_outbound


def _e(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def validate(cfg: PbxConfig) -> list[dict[str, str]]:
    return _settings(cfg) + _extensions(cfg) + _trunks(cfg) + _inbound(cfg) + _outbound(cfg)


def _settings(cfg: PbxConfig) -> list[dict[str, str]]:
    s, out = cfg.settings, []
    if s.rtp_port_min >= s.rtp_port_max:
        out.append(_e("settings.rtp_port_max", "Cổng RTP cuối phải lớn hơn cổng RTP đầu."))
    for name, port in (("sip_udp_port", s.sip_udp_port), ("sip_tcp_port", s.sip_tcp_port)):
        if s.rtp_port_min <= port <= s.rtp_port_max:
            out.append(_e(f"settings.{name}", f"Cổng SIP {port} nằm trong dải cổng RTP {s.rtp_port_min}–"
                                              f"{s.rtp_port_max}."))
    if not s.codecs:
        out.append(_e("settings.codecs", "Chọn ít nhất một codec."))
    return out


def _extensions(cfg: PbxConfig) -> list[dict[str, str]]:
    out = []
    seen: dict[str, str] = {}
    literal_dids = {r.did: r for r in cfg.inbound_routes if r.enabled and compiled(r.did).literal}
    for e in cfg.extensions:
        if e.number in seen:
            out.append(_e(f"extensions.{e.id}", f"Số máy nhánh {e.number} bị trùng."))
        seen[e.number] = e.id
        if not e.enabled:
            continue
        route = literal_dids.get(e.number)
        if route is not None:
            out.append(_e(f"extensions.{e.id}", f"Số máy nhánh {e.number} trùng với số gọi vào (DID) của tuyến "
                                                f"«{route.name}»; đổi một trong hai để cuộc gọi không bị nhầm đích."))
        if not set(e.codecs) & set(cfg.settings.codecs):
            out.append(_e(f"extensions.{e.id}", f"Máy nhánh {e.number} không có codec nào trong danh sách codec chung "
                                                f"({', '.join(cfg.settings.codecs)})."))
    return out


def _trunks(cfg: PbxConfig) -> list[dict[str, str]]:
    out = []
    enabled = [t for t in cfg.trunks if t.enabled]
    for t in enabled:
        field = f"trunks.{t.id}"
        if t.kind == "register":
            missing = [label for label, v in (("địa chỉ nhà cung cấp", t.host), ("tên đăng nhập", t.username),
                                              ("mật khẩu", t.password)) if not v]
            if missing:
                out.append(_e(field, f"Trunk đăng ký «{t.name}» thiếu {', '.join(missing)}."))
        elif not t.allowed_networks:
            out.append(_e(field, f"Trunk «{t.name}» xác thực theo IP nhưng chưa có địa chỉ IP được phép."))
        if t.caller_id_mode == "fixed" and not t.caller_id_number:
            out.append(_e(field, f"Trunk «{t.name}» hiển thị số cố định nhưng chưa nhập số."))
    peers = [t for t in enabled if t.kind == "peer"]
    for a, b in combinations(peers, 2):
        if _networks_overlap(a.allowed_networks, b.allowed_networks):
            out.append(_e(f"trunks.{b.id}", f"Trunk «{a.name}» và «{b.name}» có dải IP chồng nhau: không biết cuộc "
                                            "gọi đến thuộc trunk nào."))
    return out


def _networks_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    for x in a:
        for y in b:
            try:
                nx, ny = ipaddress.ip_network(x, strict=False), ipaddress.ip_network(y, strict=False)
            except ValueError:
                continue
            if nx.version == ny.version and nx.overlaps(ny):
                return True
    return False


def _describe(r) -> str:
    did = r.did or "mọi số"
    return f"«{r.name}» (DID {did}" + (f", người gọi {r.caller})" if r.caller else ")")


def _inbound(cfg: PbxConfig) -> list[dict[str, str]]:
    out = []
    routes = [r for r in cfg.inbound_routes if r.enabled]
    bad: set[str] = set()
    for r in routes:
        for text in (r.did, r.caller):
            try:
                patterns.parse(text)
            except patterns.PatternError as exc:
                out.append(_e(f"inbound_routes.{r.id}", f"Tuyến «{r.name}»: {exc}"))
                bad.add(r.id)
        for step in r.destination.steps():
            if step.kind == DEST_NUMBER and match_outbound(cfg, step.ref) is None:
                out.append(_e(f"inbound_routes.{r.id}", f"Tuyến «{r.name}» chuyển tới số {step.ref} nhưng không tuyến "
                                                        "gọi ra nào nhận số này."))
    # only routes of equal specificity can tie: group by it; exact DIDs only meet the same DID
    groups: dict[tuple, list] = {}
    for r in routes:
        if r.id not in bad:
            did = compiled(r.did)
            groups.setdefault((inbound_key(r), r.did if did.literal else None), []).append(r)
    for members in groups.values():
        for a, b in combinations(members, 2):
            if patterns.overlap(compiled(a.did), compiled(b.did)) and patterns.overlap(compiled(a.caller),
                                                                                       compiled(b.caller)):
                out.append(_e(f"inbound_routes.{b.id}", f"Tuyến gọi vào {_describe(a)} và {_describe(b)} cùng nhận "
                                                        "một số cuộc gọi với mức ưu tiên như nhau; hãy làm một tuyến "
                                                        "cụ thể hơn hoặc tắt một tuyến."))
    return out


def _outbound(cfg: PbxConfig) -> list[dict[str, str]]:
    out = []
    trunks = {t.id: t for t in cfg.trunks}
    pin_sets = {p.id: p for p in cfg.pin_sets}
    for r in cfg.outbound_routes:
        if not r.enabled:
            continue
        field = f"outbound_routes.{r.id}"
        if not r.patterns:
            out.append(_e(field, f"Tuyến gọi ra «{r.name}» chưa có mẫu quay số."))
        for p in r.patterns:
            try:
                patterns.parse(p.match)
            except patterns.PatternError as exc:
                out.append(_e(field, f"Tuyến gọi ra «{r.name}»: {exc}"))
        usable = [trunks[i] for i in r.trunk_ids if i in trunks and trunks[i].enabled]
        if not usable:
            out.append(_e(field, f"Tuyến gọi ra «{r.name}» không có trunk nào đang bật."))
        for t in usable:
            if t.kind == "peer" and not t.host:
                out.append(_e(field, f"Tuyến gọi ra «{r.name}» dùng trunk «{t.name}» nhưng trunk này chưa có địa chỉ để "
                                     "gửi cuộc gọi đi."))
        if r.pin_set_id:
            ps = pin_sets.get(r.pin_set_id)
            if ps is None:
                out.append(_e(field, f"Tuyến gọi ra «{r.name}» dùng bộ mã PIN không còn tồn tại."))
            elif not ps.pins:
                out.append(_e(field, f"Tuyến gọi ra «{r.name}» yêu cầu mã PIN nhưng bộ «{ps.name}» chưa có mã nào."))
    return out
