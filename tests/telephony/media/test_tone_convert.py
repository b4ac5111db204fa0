"""Call-progress tones and the upload conversion to 8 kHz prompts with ffmpeg (CC-12)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from ketnoi.telephony.media import tone
from ketnoi.telephony.media.convert import ConversionError, convert_to_prompt, probe_duration
from ketnoi.telephony.media.wav import WavFormatError, read_pcm16
from tests.telephony.media.helpers import band_energy, peak_frequency, rms, write_wav

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def test_ringback_and_busy_cadences():
    ring = np.frombuffer(tone.cadence(tone.RINGBACK), "<i2")
    assert len(ring) == 5 * 8000
    assert abs(peak_frequency(ring[:8000]) - 425) < 5 and rms(ring[8000:]) == 0
    busy = np.frombuffer(tone.cadence(tone.BUSY, 2.1), "<i2")
    assert len(busy) == int(2.1 * 8000)
    on, off = busy[:2800], busy[2800:5600]
    assert rms(on) > 5000 and rms(off) == 0


def test_dtmf_tone_has_its_two_frequencies():
    x = tone.dtmf_tone("5", 0.2)
    assert band_energy(x, 770) > 0.4 and band_energy(x, 1336) > 0.4
    with pytest.raises(ValueError):
        tone.dtmf_tone("x")


@needs_ffmpeg
def test_stereo_44k_wav_becomes_an_8k_mono_prompt(tmp_path):
    t = np.arange(int(44100 * 1.5)) / 44100
    left = (8000 * np.sin(2 * np.pi * 800 * t)).astype("<i2")
    stereo = np.stack([left, left], axis=1).tobytes()
    src = write_wav(tmp_path / "upload.wav", stereo, rate=44100, channels=2)
    result = convert_to_prompt(src, tmp_path / "prompts" / "welcome.wav")
    assert result.path.exists() and result.duration == pytest.approx(1.5, abs=0.01)
    pcm = read_pcm16(result.path)
    assert len(pcm) // 2 == pytest.approx(12000, abs=20)
    assert abs(peak_frequency(pcm) - 800) < 10
    assert probe_duration(result.path) == pytest.approx(1.5, abs=0.01)
    assert not list((tmp_path / "prompts").glob(".convert-*"))  # no temporary file left


@needs_ffmpeg
def test_mp3_upload(tmp_path):
    mp3 = tmp_path / "nhac-cho.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=500:duration=2",
                    "-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", str(mp3)], check=True, timeout=60)
    result = convert_to_prompt(mp3, tmp_path / "moh.wav")
    assert result.duration == pytest.approx(2.0, abs=0.1)
    assert abs(peak_frequency(read_pcm16(result.path)) - 500) < 10


@needs_ffmpeg
def test_bad_uploads_give_clear_errors(tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(ConversionError) as info:
        convert_to_prompt(junk, tmp_path / "out.wav")
    assert info.value.message.startswith("Tệp không phải âm thanh") and not (tmp_path / "out.wav").exists()
    with pytest.raises(ConversionError, match="Không tìm thấy"):
        convert_to_prompt(tmp_path / "missing.wav", tmp_path / "out.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ConversionError, match="rỗng"):
        convert_to_prompt(empty, tmp_path / "out.wav")
    long = write_wav(tmp_path / "long.wav", tone.sine(300, 3.0))
    with pytest.raises(ConversionError, match="dài quá"):
        convert_to_prompt(long, tmp_path / "out.wav", max_seconds=2)
    with pytest.raises(ConversionError, match="quá thời gian"):
        convert_to_prompt(long, tmp_path / "out.wav", timeout=0.0001)


def test_player_refuses_unconverted_wav(tmp_path):
    path = write_wav(tmp_path / "cd.wav", bytes(4 * 100), rate=44100, channels=2)
    with pytest.raises(WavFormatError, match="convert"):
        read_pcm16(path)
    (tmp_path / "x.wav").write_bytes(b"RIFF....")
    with pytest.raises(WavFormatError):
        read_pcm16(tmp_path / "x.wav")
