"""SDP (RFC 4566) descriptions and RFC 3264 offer/answer for the call engine's G.711 audio.

``parse(text)`` raises only ``SdpError``; ``SdpSession`` builds offers/answers per leg and yields
``MediaParams`` for ``ketnoi.telephony.media.session.RtpEndpoint``; ``NoCommonCodec`` maps to 488.
"""

from ketnoi.telephony.sdp.model import (
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
    parse,
)
from ketnoi.telephony.sdp.offer_answer import (
    AUDIO_CODECS,
    PCMA,
    PCMU,
    SUPPORTED_EVENTS,
    TELEPHONE_EVENT,
    Codec,
    Direction,
    MediaParams,
    NoCommonCodec,
    SdpNegotiationError,
    SdpSession,
    format_events,
    parse_events,
)

__all__ = [
    "AUDIO_CODECS", "PCMA", "PCMU", "SUPPORTED_EVENTS", "TELEPHONE_EVENT", "Attribute", "Codec",
    "Connection", "Direction", "MediaDescription", "MediaParams", "NoCommonCodec", "Origin",
    "SdpError", "SdpNegotiationError", "SdpSession", "SessionDescription", "format_events", "parse",
    "parse_events",
]
