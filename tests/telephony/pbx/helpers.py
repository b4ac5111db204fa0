"""Real PBX objects of one organization, for the permission matrix (tests/test_permission_matrix.py)."""

from __future__ import annotations

from ketnoi.telephony.pbx import cdr
from tests.telephony.pbx.conftest import Pbx, wav_bytes


def pbx_objects(database, org_id: str) -> dict[str, str]:
    pbx = Pbx(database, org_id)
    ext = pbx.ext("1001")
    trunk = pbx.trunk("Nhà mạng")
    sound = pbx.sound("Lời chào", 0.2)
    inbound = pbx.inbound("Hotline", "1022", ref=ext, prompt_sound_id=sound)
    pins = pbx.pin_set("Lãnh đạo", ["1234"])
    outbound = pbx.outbound("Di động", [{"match": "_0XXXXXXXXX"}], [trunk], pin_set_id=pins)
    folder = cdr.recording_dir(org_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "matrix.wav").write_bytes(wav_bytes(0.2, 8000, 2))
    with database.session() as s:
        call = cdr.start_call(s, organization_id=org_id, direction="inbound", caller="0912345678", called="1022")
        cdr.end_call(s, call, disposition="answered", recording_path=folder / "matrix.wav")
    return {"extension_id": ext, "trunk_id": trunk, "sound_id": sound, "inbound_route_id": inbound,
            "pin_set_id": pins, "outbound_route_id": outbound, "calls.call_id": call}
