"""Sound files (CC-12): real ffmpeg conversion of a generated WAV (16 kHz stereo) and an ffmpeg-made
MP3 to 8 kHz mono WAV; type judged by content; size limit; rename, search, delete refused while
used; listening in the browser with Range requests; files removed when a transaction rolls back."""

from __future__ import annotations

import wave

import pytest

from ketnoi.core.errors import ValidationFailed
from ketnoi.telephony.pbx import sounds
from ketnoi.telephony.pbx.models import SoundFile
from tests.conftest import login
from tests.telephony.pbx.conftest import mp3_bytes, wav_bytes

API = "/api/v1/telephony/sounds"


def _stored(database, sound_id):
    with database.session() as s:
        row = s.get(SoundFile, sound_id)
        return row, sounds.sound_path(row)


def _format(path):
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


def test_wav_upload_is_converted_to_8khz_mono(client, world, database, admin):
    h = login(client, "tongdai")
    r = client.post(API, headers=h, files={"file": ("loi-chao.wav", wav_bytes(1.0, 16000, 2), "audio/wav")},
                    data={"description": "Lời chào giờ hành chính"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "loi-chao" and body["original_format"] == "wav"
    assert abs(body["duration_ms"] - 1000) <= 20
    row, path = _stored(database, body["id"])
    rate, channels, width, frames = _format(path)
    assert (rate, channels, width) == (8000, 1, 2) and abs(frames - 8000) <= 160
    assert row.size == path.stat().st_size and path.parent.name == world.org_a


def test_mp3_upload_made_by_ffmpeg(client, world, database, admin, tmp_path):
    h = login(client, "tongdai")
    # the extension says .wav: the content decides
    r = client.post(API, headers=h, files={"file": ("nhac-cho.wav", mp3_bytes(tmp_path, 1.5), "audio/wav")},
                    data={"name": "Nhạc chờ"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["original_format"] == "mp3" and body["name"] == "Nhạc chờ"
    assert 1400 <= body["duration_ms"] <= 1700  # MP3 frames pad the end a little
    _, path = _stored(database, body["id"])
    assert _format(path)[:3] == (8000, 1, 2)


def test_refused_uploads(client, world, admin):
    h = login(client, "tongdai")
    r = client.post(API, headers=h, files={"file": ("a.mp3", b"#EXTM3U\nfile:///etc/passwd\n", "audio/mpeg")})
    assert r.status_code == 415 and "WAV hoặc MP3" in r.json()["detail"]
    r = client.post(API, headers=h, files={"file": ("a.wav", b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 10, "audio/wav")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = client.post(API, headers=h, files={"file": ("a.wav", b"", "audio/wav")})
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == "Chưa chọn tệp âm thanh."
    big = b"RIFF" + b"\x00" * 4 + b"WAVE" + b"\x00" * (sounds.MAX_BYTES + 10)
    r = client.post(API, headers=h, files={"file": ("to.wav", big, "audio/wav")})
    assert r.status_code == 413 and "tối đa 20 MB" in r.json()["detail"]
    client.post(API, headers=h, files={"file": ("x.wav", wav_bytes(0.3), "audio/wav")}, data={"name": "Trùng"})
    r = client.post(API, headers=h, files={"file": ("y.wav", wav_bytes(0.3), "audio/wav")}, data={"name": "trùng"})
    assert r.status_code == 409 and r.json()["errors"][0]["message"] == "Đã có tệp âm thanh tên «trùng»."


def test_sniffing():
    assert sounds.sniff(wav_bytes(0.01)) == "wav"
    assert sounds.sniff(b"ID3\x04\x00" + b"\x00" * 20) == "mp3"
    assert sounds.sniff(b"\xff\xfb\x90\x64" + b"\x00" * 20) == "mp3"
    assert sounds.sniff(b"\xff\xff\xff\xff") is None  # not a valid MPEG header
    assert sounds.sniff(b"OggS\x00") is None and sounds.sniff(b"") is None


def test_rename_search_and_listen_with_range(client, world, database, admin):
    h = login(client, "tongdai")
    sid = client.post(API, headers=h, files={"file": ("x.wav", wav_bytes(0.5), "audio/wav")},
                      data={"name": "Ngoài giờ"}).json()["id"]
    client.post(API, headers=h, files={"file": ("y.wav", wav_bytes(0.3), "audio/wav")}, data={"name": "Khác"})
    r = client.patch(f"{API}/{sid}", headers=h, json={"name": "Ngoài giờ làm việc", "description": "Sau 17 giờ"})
    assert r.status_code == 200 and r.json()["name"] == "Ngoài giờ làm việc"
    page = client.get(f"{API}?q=giờ làm", headers=h).json()
    assert page["total"] == 1 and page["items"][0]["audio_url"] == f"{API}/{sid}/audio"
    assert client.get(f"{API}?sort=-duration_ms", headers=h).json()["items"][0]["id"] == sid
    full = client.get(f"{API}/{sid}/audio", headers=h)
    assert full.status_code == 200 and full.headers["content-type"] == "audio/wav" and full.content[:4] == b"RIFF"
    part = client.get(f"{API}/{sid}/audio", headers={**h, "Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100 and part.content == full.content[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(full.content)}"


def test_sound_used_by_a_route_cannot_be_deleted(client, world, database, admin, pbx):
    sid = pbx.sound("Chào")
    pbx.inbound("Hotline", "1022", kind="play", ref=sid)
    h = login(client, "tongdai")
    r = client.delete(f"{API}/{sid}", headers=h)
    assert r.status_code == 409
    assert r.json()["detail"].startswith("Tệp âm thanh «Chào» đang được dùng bởi tuyến gọi vào «Hotline»")
    assert client.get(f"{API}/{sid}", headers=h).status_code == 200


def test_file_of_a_rolled_back_upload_is_removed(world, database, pbx):
    folder = sounds.sounds_dir(world.org_a)
    before = set(folder.glob("*.wav")) if folder.exists() else set()
    with pytest.raises(ValidationFailed), database.session() as s:
        sounds.upload(s, pbx.p, wav_bytes(0.2), "a.wav", name="Sẽ hủy")
        raise ValidationFailed("hủy giao dịch")
    assert set(folder.glob("*.wav")) == before
    kept = pbx.sound("Giữ lại")
    assert sounds.sounds_dir(world.org_a).joinpath(f"{kept}.wav").is_file()
