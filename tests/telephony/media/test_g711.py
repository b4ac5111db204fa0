"""G.711 µ-law / A-law tables and transcoding, checked by value and by signal (FFT, SNR)."""

from __future__ import annotations

import numpy as np
import pytest

from ketnoi.telephony.media import g711, tone
from tests.telephony.media.helpers import peak_frequency


def test_known_code_points():
    # µ-law: 0xFF and 0x7F are the two zeros, 0x80 / 0x00 the extremes (G.711 Table 2)
    assert g711.ULAW_DECODE[0xFF] == 0 and g711.ULAW_DECODE[0x7F] == 0
    assert g711.ULAW_DECODE[0x80] == 32124 and g711.ULAW_DECODE[0x00] == -32124
    assert g711.ulaw_encode_sample(0) == 0xFF and g711.ulaw_encode_sample(32767) == 0x80
    assert g711.ulaw_encode_sample(-32768) == 0x00
    # A-law: even bits inverted; 0xD5 / 0x55 are the smallest steps, 0xAA / 0x2A the extremes
    assert g711.ALAW_DECODE[0xD5] == 8 and g711.ALAW_DECODE[0x55] == -8
    assert g711.ALAW_DECODE[0xAA] == 32256 and g711.ALAW_DECODE[0x2A] == -32256
    assert g711.alaw_encode_sample(0) == 0xD5 and g711.alaw_encode_sample(32767) == 0xAA


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_every_code_round_trips_and_the_encoder_is_monotonic(law):
    decode = g711.ULAW_DECODE if law == "PCMU" else g711.ALAW_DECODE
    encode = g711.ULAW_ENCODE if law == "PCMU" else g711.ALAW_ENCODE
    for code in range(256):
        value = decode[code]
        if law == "PCMU" and code == 0x7F:
            continue  # "negative zero" encodes back as 0xFF
        assert encode[value & 0xFFFF] == code
    levels = [decode[encode[v & 0xFFFF]] for v in range(-32768, 32768, 64)]
    assert levels == sorted(levels)


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_quantisation_snr_of_a_speech_level_tone(law):
    pcm = tone.sine(1000, 0.5, level=0.3)
    back = g711.DECODERS[law](g711.ENCODERS[law](pcm))
    x = np.frombuffer(pcm, "<i2").astype(float)
    y = np.frombuffer(back, "<i2").astype(float)
    snr = 10 * np.log10(np.sum(x * x) / np.sum((x - y) ** 2))
    assert snr > 33  # G.711 gives about 38 dB for mid-level signals


def test_transcoding_keeps_the_tone():
    """A 1 kHz tone through µ-law → A-law (the bridge's translate) → decode keeps its frequency and level."""
    pcm = tone.sine(1000, 1.0, level=0.4)
    alaw = g711.ulaw_to_alaw(g711.pcm16_to_ulaw(pcm))
    out = g711.alaw_to_pcm16(alaw)
    assert abs(peak_frequency(out) - 1000) < 5
    x, y = (np.frombuffer(p, "<i2").astype(float) for p in (pcm, out))
    assert np.corrcoef(x, y)[0, 1] > 0.999
    back = g711.ulaw_to_pcm16(g711.alaw_to_ulaw(alaw))
    assert abs(peak_frequency(back) - 1000) < 5


def test_transcode_tables_match_decode_then_encode():
    for code in range(256):
        assert g711.ULAW_TO_ALAW[code] == g711.ALAW_ENCODE[g711.ULAW_DECODE[code] & 0xFFFF]
        assert g711.ALAW_TO_ULAW[code] == g711.ULAW_ENCODE[g711.ALAW_DECODE[code] & 0xFFFF]
    assert g711.transcode_table("pcmu", "PCMU") is None
    assert g711.transcode_table("PCMU", "PCMA") is g711.ULAW_TO_ALAW
    with pytest.raises(ValueError):
        g711.transcode_table("PCMU", "G722")


def test_decode_layout_is_little_endian_16_bit():
    assert g711.ulaw_to_pcm16(bytes([0x80, 0x00])) == (32124).to_bytes(2, "little") + (-32124).to_bytes(
        2, "little", signed=True)
    with pytest.raises(ValueError):
        g711.pcm16_to_ulaw(b"\x00")
