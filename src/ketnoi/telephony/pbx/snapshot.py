"""Building the draft PbxConfig from the staged rows (the first half of Apply): stored references are
resolved into snapshot terms (extension id → number, route-to-route jumps followed, prompts turned
into ``play`` steps, sound ids → file paths, sealed trunk passwords opened). What cannot be
resolved is reported as an error naming the object; the pure rules are in validation.py.

Error fields are ``<collection>.<id>`` (``inbound_routes.4f…``), or ``settings.<field>``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.telephony.pbx import config as C
from ketnoi.telephony.pbx import secretbox, service, sounds
from ketnoi.telephony.pbx.models import Extension, InboundRoute, OutboundRoute, PinSet, SoundFile, Trunk

MAX_HOPS = 8


def _err(collection: str, obj_id: str, message: str) -> dict[str, str]:
    return {"field": f"{collection}.{obj_id}", "message": message}


def build(db: Session, org_id: str, revision: int, applied_at: str,
          data_dir: Path | None = None) -> tuple[C.PbxConfig, list[dict[str, str]]]:
    errors: list[dict[str, str]] = []
    settings = service.general_config(service.get_settings_row(db, org_id))
    rows = {m: list(db.scalars(select(m).where(m.organization_id == org_id)))
            for m in (Extension, Trunk, InboundRoute, OutboundRoute, PinSet, SoundFile)}

    sound_rows = {s.id: s for s in rows[SoundFile]}
    sound_cfg = {s.id: C.SoundConfig(s.id, s.name, str(sounds.sound_path(s, data_dir)), s.duration_ms)
                 for s in rows[SoundFile]}

    extensions = []
    ext_by_id = {}
    for e in sorted(rows[Extension], key=lambda x: x.number):
        if e.enabled and (not e.ha1_md5 or e.ha1_realm != settings.realm):
            errors.append(_err("extensions", e.id, f"Máy nhánh {e.number}: mật khẩu SIP cần nhập lại (realm đã đổi "
                                                   "hoặc khóa máy chủ đã thay)."))
        record = e.recording == "on" or (e.recording == "default" and settings.recording_enabled)
        cfg = C.ExtensionConfig(
            id=e.id, number=e.number, display_name=e.display_name, ha1_md5=e.ha1_md5, ha1_sha256=e.ha1_sha256,
            caller_id_name=e.caller_id_name or e.display_name, caller_id_number=e.caller_id_number,
            codecs=tuple(c for c in (e.codecs or settings.codecs)), record=record, max_contacts=e.max_contacts,
            permit=tuple(e.permit or ()), enabled=e.enabled)
        extensions.append(cfg)
        ext_by_id[e.id] = cfg

    trunks = []
    for t in sorted(rows[Trunk], key=lambda x: x.name.lower()):
        password = ""
        if t.password_sealed:
            try:
                password = secretbox.unseal(t.password_sealed)
            except secretbox.SecretUnavailable:
                if t.enabled:
                    errors.append(_err("trunks", t.id, f"Trunk {t.name}: không đọc được mật khẩu đã lưu (khóa máy "
                                                       "chủ đã thay); hãy nhập lại mật khẩu."))
        trunks.append(C.TrunkConfig(
            id=t.id, name=t.name, kind=t.kind, host=t.host, port=t.port, transport=t.transport, username=t.username,
            password=password, realm=t.realm, register_interval=t.register_interval,
            allowed_networks=tuple(t.allowed_networks or ()), caller_id_mode=t.caller_id_mode,
            caller_id_number=t.caller_id_number, max_channels=t.max_channels,
            codecs=tuple(t.codecs or settings.codecs), enabled=t.enabled))

    routes_by_id = {r.id: r for r in rows[InboundRoute]}
    used_sounds: set[str] = set()

    def resolve(r: InboundRoute, seen: tuple[str, ...]) -> tuple[C.Destination, str]:
        """(destination, problem or '')."""
        dest: C.Destination
        problem = ""
        kind, ref = r.dest_kind, r.dest_ref
        if kind == "extension":
            ext = ext_by_id.get(ref)
            if ext is None:
                dest, problem = C.Destination(C.DEST_HANGUP), "đích đến là máy nhánh không còn tồn tại."
            else:
                dest = C.Destination(C.DEST_EXTENSION, ext.number)
                if not ext.enabled:
                    problem = f"đích đến là máy nhánh {ext.number} đang tắt."
        elif kind == "play":
            dest = C.Destination(C.DEST_PLAY, ref)
            problem = _sound_problem(ref)
        elif kind == "number":
            dest = C.Destination(C.DEST_NUMBER, ref)
        elif kind == "hangup":
            dest = C.Destination(C.DEST_HANGUP)
        elif kind == "route":
            target = routes_by_id.get(ref)
            if target is None:
                dest, problem = C.Destination(C.DEST_HANGUP), "đích đến là tuyến gọi vào không còn tồn tại."
            elif target.id in seen or len(seen) >= MAX_HOPS:
                names = " → ".join(routes_by_id[i].name for i in seen if i in routes_by_id)
                dest, problem = C.Destination(C.DEST_HANGUP), f"chuyển tuyến thành vòng lặp ({names} → {target.name})."
            else:
                dest, problem = resolve(target, seen + (target.id,))
                if not problem and not target.enabled:
                    problem = f"đích đến là tuyến «{target.name}» đang tắt."
        else:
            dest, problem = C.Destination(C.DEST_HANGUP), f"loại đích đến '{kind}' không được hỗ trợ."
        if r.prompt_sound_id:
            problem = problem or _sound_problem(r.prompt_sound_id)
            dest = C.Destination(C.DEST_PLAY, r.prompt_sound_id, dest)
        return dest, problem

    def _sound_problem(sound_id: str) -> str:
        used_sounds.add(sound_id)
        s = sound_rows.get(sound_id)
        if s is None:
            return "tệp âm thanh không còn tồn tại."
        if not Path(sound_cfg[sound_id].path).is_file():
            return f"tệp âm thanh «{s.name}» không còn trên máy chủ; hãy tải lên lại."
        return ""

    inbound = []
    for r in sorted(rows[InboundRoute], key=lambda x: (x.did_pattern, x.caller_pattern, x.name)):
        dest, problem = resolve(r, (r.id,))
        if problem and r.enabled:
            errors.append(_err("inbound_routes", r.id, f"Tuyến gọi vào «{r.name}»: {problem}"))
        inbound.append(C.InboundRouteConfig(r.id, r.name, r.did_pattern, r.caller_pattern, dest, r.enabled))

    pin_sets = [C.PinSetConfig(s.id, s.name, tuple(s.pins or ())) for s in sorted(rows[PinSet], key=lambda x: x.name)]
    outbound = [C.OutboundRouteConfig(
        id=r.id, name=r.name, position=r.position,
        patterns=tuple(C.DialPattern(p.get("prefix", ""), p.get("match", ""), p.get("prepend", ""))
                       for p in r.patterns or ()),
        trunk_ids=tuple(r.trunk_ids), pin_set_id=r.pin_set_id or "", caller_id_number=r.caller_id_number,
        enabled=r.enabled) for r in sorted(rows[OutboundRoute], key=lambda x: (x.position, x.name))]

    cfg = C.PbxConfig(org_id, revision, applied_at, settings, tuple(extensions), tuple(trunks), tuple(inbound),
                      tuple(outbound), tuple(pin_sets), tuple(sound_cfg[i] for i in sorted(sound_cfg)))
    return cfg, errors
