"""SDP: parse and serialize session descriptions (RFC 8866), and offer/answer (RFC 3264).

Sans-IO and standard library only. Descriptions are immutable values that keep every line as it
arrived, so a relay changes addresses, ports, codecs or direction and nothing else.
"""

from softswitch.sdp.errors import SdpError
from softswitch.sdp.formats import (
    STATIC_PAYLOAD_TYPES,
    Codec,
    Direction,
    RtpMap,
    first_audio_encoding,
    parse_event_list,
    parse_fmtp_parameters,
    parse_rtpmap,
)
from softswitch.sdp.lines import Attribute, Bandwidth, BlankLine, Connection, Field, Origin, Timing
from softswitch.sdp.media import MediaDescription, MediaLine
from softswitch.sdp.negotiation import (
    Answer,
    CodecOrder,
    CodecSpec,
    LocalCapabilities,
    NegotiatedStream,
    Negotiation,
    answer,
    create_offer,
    process_answer,
)
from softswitch.sdp.rewrite import (
    bump_version,
    filter_codecs,
    hold,
    with_connection_address,
    with_direction,
    with_media_port,
    with_origin_address,
    without_attributes,
)
from softswitch.sdp.session import SessionDescription, SessionLine, parse, serialize

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "Answer",
    "Attribute",
    "Bandwidth",
    "BlankLine",
    "Codec",
    "CodecOrder",
    "CodecSpec",
    "Connection",
    "Direction",
    "Field",
    "LocalCapabilities",
    "MediaDescription",
    "MediaLine",
    "NegotiatedStream",
    "Negotiation",
    "Origin",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "SessionLine",
    "Timing",
    "answer",
    "bump_version",
    "create_offer",
    "filter_codecs",
    "first_audio_encoding",
    "hold",
    "parse",
    "parse_event_list",
    "parse_fmtp_parameters",
    "parse_rtpmap",
    "process_answer",
    "serialize",
    "with_connection_address",
    "with_direction",
    "with_media_port",
    "with_origin_address",
    "without_attributes",
]
