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
            jb.put((ts0 + i * 160) & 0xFFFFFFFF, i.to_bytes(2, "big") * 80, arrivals[k][0])
            k += 1
        frame = jb.pop(t)
        if frame is not None:
            out.append(frame)
        t += 0.02
    return out


def payload_order(frames) -> list[int]:
    return [int.from_bytes(f.payload[:2], "big") for f in frames if f.payload is not None]


def assert_played(jb: JitterBuffer, played: list[int], expected: list[int]) -> None:
    """In order, and nothing missing but the frames the buffer dropped on purpose to shrink its delay."""
    assert played == [v for v in expected if v in set(played)]
    assert len(expected) - len(played) <= jb.stats.skipped <= 2


def test_steady_stream_plays_every_frame_in_order():
    jb = JitterBuffer()
    frames = simulate(jb, [0.005] * 200)
    played = payload_order(frames)
    # the initial 60 ms delay is more than this network needs: it shrinks by a frame or two
    assert jb.stats.skipped <= 2 and len(played) == 200 - jb.stats.skipped
    assert played == sorted(played) and played[-1] == 199
    last = max(i for i, f in enumerate(frames) if f.payload is not None)
    assert all(f.payload is not None for f in frames[:last])  # after the stream ends: concealment
    assert jb.stats.late == 0 and jb.stats.stretched == 0


def test_reordering_and_jitter_within_the_window_lose_nothing():
    rng = random.Random(3)
    delays = [rng.uniform(0.0, 0.06) for _ in range(500)]  # up to 60 ms: packets overtake each other
    jb = JitterBuffer()
    frames = simulate(jb, delays)
    played = payload_order(frames)
    assert played == sorted(played) and len(set(played)) == len(played)  # in order, once each
    assert len(played) >= 485 and jb.stats.late <= 10
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
    last = max(i for i, f in enumerate(frames) if f.payload is not None)
    holes = [i for i, f in enumerate(frames[:last]) if f.payload is None]
    assert len(holes) == 3
    assert_played(jb, payload_order(frames), [i for i in range(100) if i not in {10, 11, 50}])


def test_timestamp_wrap_and_restart():
    jb = JitterBuffer()
    frames = simulate(jb, [0.01] * 100, ts0=0xFFFFFFFF - 160 * 40)
    assert_played(jb, payload_order(frames), list(range(100)))
    # the source jumps far away (a new stream): the buffer starts over instead of waiting for it
    played = []
    for i in range(30):
        jb.put(123456 + i * 160, b"\x07" * 160, 200.0 + i * 0.02)
        frame = jb.pop(200.0 + i * 0.02)
        if frame is not None and frame.payload is not None:
            played.append(frame.timestamp)
    assert jb.stats.resets == 1
    assert played and played == sorted(played) and played[0] == 123456


def test_nothing_before_the_first_packet():
    jb = JitterBuffer()
    assert jb.pop(1.0) is None
    jb.put(0, b"a" * 160, 1.0)
    assert jb.pop(1.0) is None  # waits for the initial delay
    assert jb.pop(1.1).payload == b"a" * 160
