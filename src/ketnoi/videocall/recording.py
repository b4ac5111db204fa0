"""One playable file per call from Janus's recordings (VC-12), as a background job.

Janus records each publisher's audio and video separately (``.mjr``, one set per join: a rejoin
after a network failure starts new files). After the call, the job converts every file with
``janus-pp-rec`` (Opus → .opus, VP8 → .webm) and composes them with ffmpeg into one WebM:
the caller's video on the left and the agent's on the right (each scaled into 640×480 on black, 15 frames/s),
both audio tracks mixed; every segment placed at its real start time (the first packet's time in
the .mjr header), so gaps of a reconnect stay silent/black and the file lasts as long as the media did.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from ketnoi.core.errors import NotFound
from ketnoi.identity.principal import Principal
from ketnoi.jobs import service as jobs
from ketnoi.jobs.runner import JobContext, JobResult, register
from ketnoi.videocall.models import VcCall
from ketnoi.videocall.runtime import recordings_root

log = logging.getLogger("ketnoi.videocall")
KIND = "videocall.recording"
SYSTEM = Principal(user_id="", username="system", full_name="Hệ thống", organization_id=None, department_id=None,
                   is_sysadmin=True)
# videoroom-<room>-user-<publisher id>-<time>-<audio|video>-<mindex>.mjr
MJR = re.compile(r"^videoroom-(?P<room>.+)-user-(?P<user>.+)-(?P<t>\d+)-(?P<kind>audio|video)-(?P<idx>\d+)\.mjr$")
TILE_W, TILE_H = 640, 480
FPS = 15  # of the composed file: enough for a support call, and half the encoding work of 30
TIMEOUT = 600  # seconds for one tool run


@dataclass
class Segment:
    role: str  # caller | agent (from the publisher id the SDK chooses: "<role>-…")
    kind: str  # audio | video
    source: Path
    start_us: int  # first packet written (µs since the epoch)
    media: Path | None = None
    duration: float = 0.0


def schedule(db: Session, call: VcCall) -> None:
    call.recording_status = "pending"
    jobs.enqueue(db, SYSTEM, KIND, {"call_id": call.id}, organization_id=call.organization_id,
                 message=f"Chờ xử lý bản ghi cuộc gọi {call.code}.")


def ready_path(call: VcCall) -> Path:
    if call.recording_status != "ready" or not call.recording_path:
        raise NotFound({"pending": "Bản ghi đang chờ xử lý.", "processing": "Bản ghi đang được xử lý.",
                        "failed": "Xử lý bản ghi không thành công."}.get(call.recording_status,
                                                                         "Cuộc gọi không có bản ghi."))
    path = recordings_root() / call.recording_path
    if not path.is_file():
        raise NotFound("Không tìm thấy tệp bản ghi.")
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def mjr_header(path: Path) -> dict:
    out = _run(["janus-pp-rec", "-j", str(path)])
    text = out.stdout.strip()
    start = text.find("{")
    if out.returncode != 0 or start < 0:
        raise RuntimeError(f"janus-pp-rec could not read {path.name}: {out.stderr.strip()[-300:]}")
    return json.loads(text[start:text.rfind("}") + 1])


def probe_duration(path: Path) -> float:
    out = _run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)])
    try:
        return float(json.loads(out.stdout)["format"]["duration"])
    except (ValueError, KeyError, TypeError):
        return 0.0


def segments(rec_dir: Path) -> list[Segment]:
    out = []
    for f in sorted(rec_dir.glob("videoroom-*.mjr")):
        m = MJR.match(f.name)
        if not m or f.stat().st_size < 64:
            continue
        header = mjr_header(f)
        start = int(header.get("u") or header.get("s") or 0)
        role = "agent" if m["user"].startswith("agent") else "caller"
        out.append(Segment(role, m["kind"], f, start))
    return out


def convert(seg: Segment, work: Path) -> None:
    target = work / (seg.source.stem + (".opus" if seg.kind == "audio" else ".webm"))
    out = _run(["janus-pp-rec", str(seg.source), str(target)])
    if out.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        log.warning("janus-pp-rec failed for %s: %s", seg.source.name, out.stderr.strip()[-300:])
        return
    seg.media, seg.duration = target, probe_duration(target)


def compose(segs: list[Segment], output: Path) -> float:
    """ffmpeg: videos side by side (caller left, agent right) over black, audios mixed; returns the length."""
    segs = [s for s in segs if s.media is not None and s.duration > 0]
    if not segs:
        raise RuntimeError("no usable media in the recording")
    t0 = min(s.start_us for s in segs)
    length = max((s.start_us - t0) / 1e6 + s.duration for s in segs)
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    for s in segs:
        args += ["-i", str(s.media)]
    filters = [f"color=c=black:s={2 * TILE_W}x{TILE_H}:r={FPS}:d={length:.3f}[base]"]
    last, audio = "base", []
    for i, s in enumerate(segs):
        off = (s.start_us - t0) / 1e6
        if s.kind == "video":
            x = 0 if s.role == "caller" else TILE_W
            filters.append(f"[{i}:v]setpts=PTS-STARTPTS+{off:.3f}/TB,scale={TILE_W}:{TILE_H}:"
                           f"force_original_aspect_ratio=decrease,pad={TILE_W}:{TILE_H}:(ow-iw)/2:(oh-ih)/2[v{i}]")
            filters.append(f"[{last}][v{i}]overlay={x}:0:eof_action=pass[o{i}]")
            last = f"o{i}"
        else:
            ms = int(off * 1000)
            filters.append(f"[{i}:a]aresample=48000,adelay={ms}:all=1[a{i}]")
            audio.append(f"[a{i}]")
    filters.append(f"[{last}]format=yuv420p[vout]")
    maps = ["-map", "[vout]"]
    if audio:
        filters.append("".join(audio) + f"amix=inputs={len(audio)}:duration=longest:normalize=0[aout]")
        maps += ["-map", "[aout]"]
    args += ["-filter_complex", ";".join(filters), *maps, "-t", f"{length:.3f}", "-r", str(FPS),
             "-c:v", "libvpx", "-b:v", "800k",
             "-deadline", "realtime", "-cpu-used", "16", "-threads", "2", "-c:a", "libopus", "-b:a", "64k", str(output)]
    out = _run(args)
    if out.returncode != 0 or not output.is_file():
        raise RuntimeError(f"ffmpeg failed: {out.stderr.strip()[-500:]}")
    return probe_duration(output)


def process(database, call_id: str) -> VcCall:
    """Builds the call's file; updates the call's recording fields and timeline."""
    from ketnoi.videocall.service import add_event

    with database.session() as db:
        call = db.get(VcCall, call_id)
        if call is None:
            raise NotFound("Không tìm thấy cuộc gọi.")
        call.recording_status = "processing"
        code = call.code
    rec_dir = recordings_root() / call_id
    work = rec_dir / "work"
    try:
        work.mkdir(parents=True, exist_ok=True)
        segs = segments(rec_dir)
        for s in segs:
            convert(s, work)
        output = rec_dir / f"{code}.webm"
        seconds = compose(segs, output)
        status, error, rel = "ready", "", str(output.relative_to(recordings_root()))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        log.error("recording of %s failed: %s", code, e)
        status, error, rel, seconds = "failed", str(e)[:500], "", None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with database.session() as db:
        call = db.get(VcCall, call_id)
        call.recording_status, call.recording_error, call.recording_path = status, error, rel
        call.recording_seconds = round(seconds, 2) if seconds else None
        if status == "ready":
            add_event(db, call, "recording_ready", f"Bản ghi sẵn sàng ({seconds:.0f} giây)", seconds=call.recording_seconds)
        else:
            add_event(db, call, "recording_failed", "Không tạo được bản ghi cuộc gọi", error=error[:200])
        return call


@register(KIND, "Xử lý bản ghi cuộc gọi video")
def run_job(ctx: JobContext) -> JobResult:
    call = process(ctx.database, str(ctx.params.get("call_id", "")))
    return JobResult(name=f"{call.code}.webm", message="Bản ghi sẵn sàng." if call.recording_status == "ready"
                     else "Không tạo được bản ghi: " + call.recording_error[:200])
