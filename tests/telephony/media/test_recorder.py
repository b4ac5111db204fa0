"""Call recording (CC-04, CC-21): one WAV per call, both parties, aligned, gaps silent, crash-safe."""

from __future__ import annotations

import random
import wave

import numpy as np
import pytest

from ketnoi.telephony.media import g711, tone
from ketnoi.telephony.media.recorder import Recorder, RecordingMode, RecordingTimeline, interleave, mix_pcm16
from tests.telephony.media.helpers import band_energy, peak_frequency, read_wav, rms


def packets(pcm: bytes, codec: str, *, ts0: int, t0: float, jitter: float = 0.0, seed: int = 1):
    """(timestamp, payload, arrival) of 20 ms packets, with uniform random delays up to ``jitter``."""
    rng = random.Random(seed)
    data = g711.ENCODERS[codec](pcm)
    out = []
    for i in range(len(data) // 160):
        out.append(((ts0 + i * 160) & 0xFFFFFFFF, data[i * 160:(i + 1) * 160], t0 + (i + 1) * 0.02
                    + rng.uniform(0, jitter)))
    return out


def feed_all(rec: Recorder, streams: list[tuple[int, str, int, list]]) -> None:
    events = [(arrival, ch, codec, ssrc, ts, payload) for ch, codec, ssrc, pk in streams
              for ts, payload, arrival in pk]
    for arrival, ch, codec, ssrc, ts, payload in sorted(events):
        rec.feed(ch, codec, ts, ssrc, payload, arrival)


def test_mix_matches_numpy_and_never_clips():
    rng = np.random.default_rng(1)
    a = rng.integers(-32768, 32768, 5000, dtype=np.int16)
    b = rng.integers(-32768, 32768, 5000, dtype=np.int16)
    a[:4] = [-32768, 32767, -32768, 32767]
    b[:4] = [-32768, 32767, 32767, -32768]
    mixed = np.frombuffer(mix_pcm16(a.tobytes(), b.tobytes()), "<i2")
    assert np.array_equal(mixed, ((a.astype(int) + b.astype(int)) // 2).astype(np.int16))
    assert mix_pcm16(b"", b"") == b""
    with pytest.raises(ValueError):
        mix_pcm16(b"\x00\x00", b"")
    stereo = np.frombuffer(interleave(a.tobytes(), b.tobytes()), "<i2").reshape(-1, 2)
    assert np.array_equal(stereo[:, 0], a) and np.array_equal(stereo[:, 1], b)


def test_stereo_recording_has_each_party_in_its_channel(tmp_path):
    caller = packets(tone.sine(1000, 2.0), "PCMU", ts0=0xFFFFF000, t0=10.0, jitter=0.03, seed=2)
    callee = packets(tone.sine(440, 1.5), "PCMA", ts0=777, t0=10.5, jitter=0.03, seed=3)
    rec = Recorder(tmp_path / "calls" / "c1.wav")
    feed_all(rec, [(0, "PCMU", 11, caller), (1, "PCMA", 22, callee)])
    path = rec.close()
    assert path == tmp_path / "calls" / "c1.wav"
    rate, channels, x = read_wav(path)
    assert (rate, channels) == (8000, 2)
    assert 1.9 <= len(x) / 8000 <= 2.2
    left, right = x[:, 0], x[:, 1]
    assert abs(peak_frequency(left) - 1000) < 10 and band_energy(left, 1000) > 0.9
    assert abs(peak_frequency(right[4400:]) - 440) < 10 and band_energy(right[4400:], 440) > 0.9
    assert rms(right[:3600]) < 50  # the callee had not answered yet: silence, aligned in time
    assert rms(right[4400:12000]) > 3000
    assert rec.closed and rec.close() == path  # idempotent


def test_mixed_recording_holds_both_parties(tmp_path):
    caller = packets(tone.sine(1000, 1.0), "PCMU", ts0=0, t0=1.0)
    callee = packets(tone.sine(600, 1.0), "PCMU", ts0=50_000, t0=1.0)
    rec = Recorder(tmp_path / "m.wav", mode=RecordingMode.MIXED)
    feed_all(rec, [(0, "PCMU", 1, caller), (1, "PCMU", 2, callee)])
    _rate, channels, x = read_wav(rec.close())
    assert channels == 1
    assert band_energy(x[:, 0], 1000) > 0.35 and band_energy(x[:, 0], 600) > 0.35


def test_gaps_become_silence_and_a_new_source_realigns(tmp_path):
    first = packets(tone.sine(1000, 1.0), "PCMU", ts0=0, t0=0.0)
    # after 1 s of nothing (hold), another SSRC with unrelated timestamps resumes
    second = packets(tone.sine(1000, 1.0), "PCMU", ts0=987_654, t0=2.0)
    rec = Recorder(tmp_path / "gap.wav")
    feed_all(rec, [(0, "PCMU", 5, first), (0, "PCMU", 6, second)])
    _, _, x = read_wav(rec.close())
    left = x[:, 0]
    assert 2.9 <= len(left) / 8000 <= 3.1
    assert rms(left[:7800]) > 3000 and rms(left[8400:15600]) < 50 and rms(left[16400:23000]) > 3000


def test_file_is_valid_while_recording_and_loses_little_on_a_crash(tmp_path):
    stream = packets(tone.sine(1000, 5.0), "PCMU", ts0=0, t0=0.0)
    rec = Recorder(tmp_path / "live.wav", flush_interval=1.0)
    for ts, payload, arrival in stream:
        rec.feed(0, "PCMU", ts, 1, payload, arrival)
    # no close(): what a crash would leave behind
    with wave.open(str(tmp_path / "live.wav"), "rb") as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000
        written = w.getnframes() / 8000
    assert 5.0 - written <= 2.0  # at most flush interval (≤ 1.5 s with its random phase) + hold-back
    assert written == pytest.approx(rec.duration)
    rec.close()


def test_timeline_drops_packets_too_late_to_place():
    tl = RecordingTimeline(2, hold=0.1)
    payload = g711.pcm16_to_ulaw(tone.sine(1000, 0.02))
    for i in range(100):
        tl.add(0, "PCMU", i * 160, 1, payload, i * 0.02)
    ready = tl.take(2.0)
    assert len(ready) == 2 and len(ready[0]) == len(ready[1])
    tl.add(0, "PCMU", 10 * 160, 1, payload, 2.0)  # a straggler for 0.2 s, already written
    assert tl.late == 1
    tl.add(0, "PCMU", 100 * 160, 1, payload, 2.0)  # the stream goes on as before
    assert tl.late == 1
    # the same source jumps its timestamps for good: one packet is doubted, then it re-anchors
    for i in range(5):
        tl.add(0, "PCMU", 900_000 + i * 160, 1, payload, 2.02 + i * 0.02)
    assert tl.late == 2 and tl.tracks[0].anchor_ts == 900_160
    assert len(tl.tracks[0].pending) // 2 >= tl.position(2.1) - tl.done - 200
    tl.add(1, "G729", 0, 2, b"\x00" * 10, 2.0)  # not G.711: ignored
    assert tl.take(None, final=True)
