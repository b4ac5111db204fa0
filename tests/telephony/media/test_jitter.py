"""Adaptive jitter buffer: driven by a simulated network and a simulated playout clock (no sleeping)."""

from __future__ import annotations

import random

from ketnoi.telephony.media.jitter import JitterBuffer


def simulate(jb: JitterBuffer, delays: list[float], *, loss: set[int] = frozenset(), ts0: int = 5000,
             duration: int | None = None, start: float = 100.0) -> list:
    """Packet i is sent at start + 20 ms·i and arrives ``delays[i]`` later; playout pops every 20 ms."""
    n = len(delays)
    arrivals = sorted((start + i * 0.02 + delays[i], i) for i in range(n) if i not in loss)
    out, k = [], 0
    t = start
    end = start + (duration or n) * 0.02 + 0.5
    while t < end:
        while k < len(arrivals) and arrivals[k][0] <= t:
            _, i = arrivals[k]
            jb.put((ts0 + i * 160) & 0xFFFFFFFF, bytes([i % 256]) * 160, arrivals[k][0])
            k += 1
        frame = jb.pop(t)
        if frame is not None:
            out.append(frame)
        t += 0.02
    return out


def payload_order(frames) -> list[int]:
    return [f.payload[0] for f in frames if f.payload is not None]


def test_steady_stream_plays_every_frame_in_order():
    jb = JitterBuffer()
    frames = simulate(jb, [0.005] * 200)
    assert payload_order(frames) == [i % 256 for i in range(200)]
    assert jb.stats.missing == 0 and jb.stats.late == 0 and jb.stats.skipped == 0


def test_reordering_and_jitter_within_the_window_lose_nothing():
    rng = random.Random(3)
    delays = [rng.uniform(0.0, 0.06) for _ in range(500)]  # up to 60 ms: packets overtake each other
    jb = JitterBuffer()
    frames = simulate(jb, delays)
    played = payload_order(frames)
    assert played == sorted(played, key=lambda v: played.index(v))  # monotonic order
    assert len(played) >= 490 and jb.stats.late <= 10
    assert 40 <= jb.stats.delay_ms <= 90  # adapted to the spread (60 ms), not to the maximum


def test_delay_adapts_down_after_the_network_calms():
    rng = random.Random(4)
    noisy = [rng.uniform(0, 0.15) for _ in range(300)]
    calm = [0.01] * 400
    jb = JitterBuffer()
    simulate(jb, noisy + calm)
    assert jb.stats.delay_ms < 40
    assert jb.stats.skipped > 0  # it shrank by dropping frames


def test_loss_is_concealed_in_place():
    jb = JitterBuffer()
    frames = simulate(jb, [0.01] * 100, loss={10, 11, 50})
    holes = [i for i, f in enumerate(frames) if f.payload is None]
    assert jb.stats.missing == 3 and len(holes) == 3
    assert payload_order(frames) == [i for i in range(100) if i not in {10, 11, 50}]


def test_timestamp_wrap_and_restart():
    jb = JitterBuffer()
    frames = simulate(jb, [0.01] * 100, ts0=0xFFFFFFFF - 160 * 40)
    assert payload_order(frames) == list(range(100))
    # the source jumps far away (new stream): the buffer starts over instead of waiting
    for i in range(30):
        jb.put(123456 + i * 160, b"\x07" * 160, 200.0 + i * 0.02)
        jb.pop(200.0 + i * 0.02)
    assert jb.stats.resets >= 1
    assert any(f is not None and f.payload == b"\x07" * 160 for f in [jb.pop(200.7), jb.pop(200.72)]) or jb.depth == 0


def test_nothing_before_the_first_packet():
    jb = JitterBuffer()
    assert jb.pop(1.0) is None
    jb.put(0, b"a" * 160, 1.0)
    assert jb.pop(1.0) is None  # waits for the initial delay
    assert jb.pop(1.1).payload == b"a" * 160
