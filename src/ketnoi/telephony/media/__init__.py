"""RTP/RTCP media for the call engine: G.711, RFC 4733 DTMF, jitter buffer, endpoints with symmetric
RTP, the two-leg bridge (relay + µ⇄A transcoding), prompt player, call recorder, tones, conversion.

The engine imports: ``PortAllocator``, ``RtpEndpoint``, ``Bridge``, ``Player``, ``Prompt``,
``load_prompt``, ``Recorder``, ``RecordingMode``, ``convert_to_prompt``; see each module.
"""

from ketnoi.telephony.media.bridge import Bridge
from ketnoi.telephony.media.convert import ConversionError, PromptFile, convert_to_prompt, probe_duration
from ketnoi.telephony.media.player import Player, Prompt, load_prompt
from ketnoi.telephony.media.recorder import Recorder, RecordingMode
from ketnoi.telephony.media.rtcp import QualityStats
from ketnoi.telephony.media.session import MediaError, PortAllocator, PortsExhausted, RtpEndpoint

__all__ = [
    "Bridge", "ConversionError", "MediaError", "Player", "PortAllocator", "PortsExhausted", "Prompt",
    "PromptFile", "QualityStats", "Recorder", "RecordingMode", "RtpEndpoint", "convert_to_prompt",
    "load_prompt", "probe_duration",
]
