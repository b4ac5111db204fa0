"""Demo PBX (issue 5, `make run DEMO=1`): extensions 1001–1006 with passwords demo1001…demo1006, a
loopback peer trunk (127.0.0.1) and the hotline route: DID 1022 plays a Vietnamese welcome made with
espeak-ng, then rings extension 1001. Applied at once, so a softphone can call right away.
Idempotent: what exists is left alone."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import select

from ketnoi.db.session import Database
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import extensions, routes, service, sounds
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx.models import Extension, InboundRoute, SoundFile, Trunk

log = logging.getLogger(__name__)
AGENTS = ["Tổng đài viên 1", "Tổng đài viên 2", "Tổng đài viên 3", "Tổng đài viên 4", "Giám sát viên",
          "Máy thử nghiệm"]
WELCOME_NAME = "Lời chào tổng đài 1022"
WELCOME_TEXT = ("Xin chào, quý vị đã gọi tới tổng đài một không hai hai, đường dây tiếp nhận phản ánh, kiến nghị "
                "của người dân. Cuộc gọi đang được chuyển tới tổng đài viên, xin vui lòng giữ máy.")
TRUNK_NAME = "Loopback (thử nghiệm)"
ROUTE_NAME = "Tổng đài 1022"


def speak(text: str, voice: str = "vi") -> bytes | None:
    """A WAV spoken by espeak-ng (None when espeak-ng is not installed or fails)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        try:
            done = subprocess.run([exe, "-v", voice, "-s", "150", text, "-w", str(out)], capture_output=True,
                                  timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0 or not out.is_file():
            log.warning("espeak-ng failed: %s", done.stderr.decode(errors="replace")[-300:])
            return None
        return out.read_bytes()


def provision_demo(db: Database, org_id: str, data_dir: Path | None = None) -> list[str]:
    p = Principal(user_id="", username="demo", full_name="Dữ liệu mẫu", organization_id=org_id, department_id=None,
                  is_sysadmin=False)
    out: list[str] = []
    with db.session() as s:
        have = set(s.scalars(select(Extension.number).where(Extension.organization_id == org_id)))
        made = []
        for n, name in enumerate(AGENTS, start=1):
            number = f"100{n}"
            if number not in have:
                extensions.create_extension(s, p, S.ExtensionIn(number=number, display_name=name,
                                                                secret=f"demo{number}"))
                made.append(number)
        if made:
            out.append(f"Tổng đài: máy nhánh {', '.join(made)} (mật khẩu SIP demo1001…demo1006).")
    with db.session() as s:
        sound = s.scalar(select(SoundFile).where(SoundFile.organization_id == org_id, SoundFile.name == WELCOME_NAME))
        if sound is None:
            wav = speak(WELCOME_TEXT)
            if wav is None:
                out.append("Tổng đài: chưa có espeak-ng nên tuyến 1022 đổ chuông thẳng máy nhánh 1001.")
            else:
                sound = sounds.upload(s, p, wav, "loi-chao-1022.wav", name=WELCOME_NAME, data_dir=data_dir,
                                      description="Tạo bằng espeak-ng (giọng tiếng Việt).")
        sound_id = sound.id if sound else None
    with db.session() as s:
        if s.scalar(select(Trunk.id).where(Trunk.organization_id == org_id, Trunk.name == TRUNK_NAME)) is None:
            extensions.create_trunk(s, p, S.TrunkIn(name=TRUNK_NAME, kind="peer", allowed_networks=["127.0.0.1/32"],
                                                    max_channels=0))
            out.append("Tổng đài: trunk loopback nhận cuộc gọi từ 127.0.0.1 (không cần mật khẩu).")
        if s.scalar(select(InboundRoute.id).where(InboundRoute.organization_id == org_id,
                                                  InboundRoute.name == ROUTE_NAME)) is None:
            ext = s.scalar(select(Extension).where(Extension.organization_id == org_id, Extension.number == "1001"))
            routes.create_inbound(s, p, S.InboundRouteIn(
                name=ROUTE_NAME, did_pattern="1022", prompt_sound_id=sound_id,
                destination=S.DestinationIn(kind="extension", ref=ext.id),
                description="Đường dây nóng 1022: phát lời chào rồi đổ chuông máy nhánh 1001."))
            out.append("Tổng đài: gọi 1022 → lời chào tiếng Việt → máy nhánh 1001.")
    with db.session() as s:
        if service.status(s, org_id).dirty:
            st = service.apply(s, p, org_id)
            out.append(f"Tổng đài: đã áp dụng cấu hình (phiên bản {st.applied_revision}).")
    return out
