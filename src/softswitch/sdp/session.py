"""Session descriptions: parse bytes into values and serialize them back (RFC 8866).

A description is the ``v=`` version, the ordered session-level lines, and the media sections,
each an ``m=`` line with its own ordered lines. Typed views (origin, connection, codecs,
direction, ...) are computed from the lines on access. Keeping the lines themselves makes an
unmodified description serialize byte for byte as it arrived (CRLF input, single spaces), and
makes every rewrite touch only the line it means to change.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from softswitch.sdp.errors import SdpError
from softswitch.sdp.formats import Direction
from softswitch.sdp.lines import (
    Attribute,
    Bandwidth,
    BlankLine,
    Connection,
    Field,
    Origin,
    Timing,
    parse_attribute,
    parse_bandwidth,
    parse_connection,
    parse_origin,
    parse_timing,
    set_line,
)
from softswitch.sdp.media import MediaDescription, MediaLine, direction_in

__all__ = ["SessionDescription", "SessionLine", "parse", "serialize"]

SessionLine = Origin | Connection | Bandwidth | Timing | Attribute | Field | BlankLine

_DIGITS: Final = re.compile(r"[0-9]+")

# RFC 8866 §5 order of session-level types; used only to place a line we add, never to reorder.
_SESSION_ORDER: Final = "osiuepcbtrzka"


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """One SDP body. Build with :meth:`new`, :func:`parse`, or ``dataclasses.replace``."""

    lines: tuple[SessionLine, ...]
    media: tuple[MediaDescription, ...] = ()
    version: int = 0

    def __post_init__(self) -> None:
        if not any(isinstance(line, Origin) for line in self.lines):
            raise SdpError("a session description needs an o= line (RFC 8866 §5.2)")
        if self.version < 0:
            raise SdpError("v= must not be negative")

    @classmethod
    def new(
        cls,
        origin: Origin,
        *,
        name: str = "-",
        connection: Connection | None = None,
        timing: Timing | None = None,
        attributes: Iterable[Attribute] = (),
        media: Iterable[MediaDescription] = (),
    ) -> SessionDescription:
        """A description with its lines in RFC 8866 order; ``t=0 0`` as RFC 3264 §5 asks."""
        lines: list[SessionLine] = [origin, Field("s", name)]
        if connection is not None:
            lines.append(connection)
        lines.append(Timing(0, 0) if timing is None else timing)
        lines.extend(attributes)
        return cls(tuple(lines), tuple(media))

    # -- typed views -------------------------------------------------------------------------

    @property
    def origin(self) -> Origin:
        """The ``o=`` line (the first, should a broken device send two)."""
        for line in self.lines:
            if isinstance(line, Origin):
                return line
        raise AssertionError("unreachable: checked in __post_init__")

    def _field(self, letter: str) -> str | None:
        for line in self.lines:
            if isinstance(line, Field) and line.letter == letter:
                return line.value
        return None

    @property
    def name(self) -> str | None:
        """``s=``; ``None`` when a (non-conforming) device left it out."""
        return self._field("s")

    @property
    def information(self) -> str | None:
        """Session-level ``i=``."""
        return self._field("i")

    @property
    def uri(self) -> str | None:
        """``u=``."""
        return self._field("u")

    @property
    def emails(self) -> tuple[str, ...]:
        """``e=`` lines."""
        return tuple(ln.value for ln in self.lines if isinstance(ln, Field) and ln.letter == "e")

    @property
    def phones(self) -> tuple[str, ...]:
        """``p=`` lines."""
        return tuple(ln.value for ln in self.lines if isinstance(ln, Field) and ln.letter == "p")

    @property
    def connection(self) -> Connection | None:
        """The session-level ``c=``, the default for media sections without their own."""
        for line in self.lines:
            if isinstance(line, Connection):
                return line
        return None

    @property
    def bandwidths(self) -> tuple[Bandwidth, ...]:
        """Session-level ``b=`` lines."""
        return tuple(line for line in self.lines if isinstance(line, Bandwidth))

    @property
    def timings(self) -> tuple[Timing, ...]:
        """``t=`` lines (their ``r=`` lines stay as fields right after them)."""
        return tuple(line for line in self.lines if isinstance(line, Timing))

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        """Session-level ``a=`` lines."""
        return tuple(line for line in self.lines if isinstance(line, Attribute))

    @property
    def explicit_direction(self) -> Direction | None:
        """The session-level direction attribute, inherited by media sections (RFC 8866 §6.7)."""
        return direction_in(self.attributes)

    def connection_of(self, index: int) -> Connection | None:
        """The connection that applies to media section ``index``: its own, else the session's."""
        return self.media[index].connection or self.connection

    def direction_of(self, index: int) -> Direction:
        """Direction of media section ``index``: its own attribute, else the session-level one,
        else sendrecv (RFC 8866 §6.7)."""
        return self.media[index].direction(self.explicit_direction or Direction.SENDRECV)

    # -- modified copies ---------------------------------------------------------------------

    def with_lines(self, lines: Iterable[SessionLine]) -> SessionDescription:
        """A copy with other session-level lines."""
        return dataclasses.replace(self, lines=tuple(lines))

    def with_origin(self, origin: Origin) -> SessionDescription:
        """A copy whose ``o=`` line is ``origin``, in place."""
        return self.with_lines(origin if isinstance(ln, Origin) else ln for ln in self.lines)

    def with_connection(self, connection: Connection | None) -> SessionDescription:
        """A copy with the session-level ``c=`` replaced in place, added, or (``None``) removed."""
        return self.with_lines(set_line(self.lines, Connection, "c", connection, _SESSION_ORDER))

    def with_media(self, index: int, media: MediaDescription) -> SessionDescription:
        """A copy whose media section ``index`` is ``media``."""
        sections = list(self.media)
        sections[index] = media
        return dataclasses.replace(self, media=tuple(sections))

    def __bytes__(self) -> bytes:
        return serialize(self)


def parse(data: bytes) -> SessionDescription:
    """Parse an SDP body.

    Lines may end in CRLF or a bare LF (RFC 8866 §5 asks parsers to accept both). Text is decoded
    as UTF-8 with surrogateescape, so bytes that are not UTF-8 survive a round trip. Unknown line
    types, and known ones in unexpected places, are kept where they stand.

    Raises:
        SdpError: the body is not SDP: no leading ``v=``, no ``o=``, a line that is not
            ``<type>=<value>``, or a malformed o=, c=, b=, t=, a= or m= line.
    """
    text = bytes(data).decode("utf-8", "surrogateescape")
    rows = text.split("\n")
    if rows[-1] == "":
        rows.pop()
    if not rows:
        raise SdpError("empty session description")
    rows = [row[:-1] if row.endswith("\r") else row for row in rows]
    if not rows[0].startswith("v="):
        raise SdpError(f"a session description must start with a v= line, got {rows[0]!r:.60}")
    version = _version(rows[0][2:])

    session: list[SessionLine] = []
    media: list[MediaDescription] = []
    header: MediaDescription | None = None
    body: list[MediaLine] = []
    for number, row in enumerate(rows[1:], start=2):
        try:
            if not row:
                (session if header is None else body).append(BlankLine())
                continue
            if len(row) < 2 or row[1] != "=" or row[0].isspace():
                raise SdpError(f"expected '<type>=<value>', got {row!r:.60}")
            letter, value = row[0], row[2:]
            if letter == "m":
                if header is not None:
                    media.append(header.with_lines(body))
                header, body = _media_header(value), []
            elif header is None:
                session.append(_session_line(letter, value))
            else:
                body.append(_media_line(letter, value))
        except SdpError as error:
            raise SdpError(f"line {number}: {error}") from None
    if header is not None:
        media.append(header.with_lines(body))
    return SessionDescription(tuple(session), tuple(media), version)


def serialize(description: SessionDescription) -> bytes:
    """The description as an SDP body with CRLF line ends (RFC 8866 §5).

    Raises:
        SdpError: a value holds a CR or LF (which would smuggle in lines) or text that cannot be
            encoded.
    """
    rows = [f"v={description.version}"]
    rows.extend(_row(line) for line in description.lines)
    for section in description.media:
        rows.append(f"m={section.header}")
        rows.extend(_row(line) for line in section.lines)
    for row in rows:
        if "\r" in row or "\n" in row:
            raise SdpError(f"line would contain CR or LF: {row!r:.60}")
    try:
        return ("\r\n".join(rows) + "\r\n").encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as error:
        raise SdpError(f"cannot encode SDP text: {error}") from None


def _row(line: SessionLine | MediaLine) -> str:
    return "" if isinstance(line, BlankLine) else f"{line.letter}={line}"


def _version(text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise SdpError(f"v= must be a number, got {text!r}")
    return int(text)


def _session_line(letter: str, value: str) -> SessionLine:
    if letter == "o":
        return parse_origin(value)
    if letter == "c":
        return parse_connection(value)
    if letter == "b":
        return parse_bandwidth(value)
    if letter == "t":
        return parse_timing(value)
    if letter == "a":
        return parse_attribute(value)
    return Field(letter, value)


def _media_line(letter: str, value: str) -> MediaLine:
    if letter == "c":
        return parse_connection(value)
    if letter == "b":
        return parse_bandwidth(value)
    if letter == "a":
        return parse_attribute(value)
    return Field(letter, value)


def _media_header(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"m= line needs '<media> <port> <proto> <fmt> ...': {value!r}")
    media, port_text, proto, *formats = parts
    port_text, sep, count_text = port_text.partition("/")
    if not _DIGITS.fullmatch(port_text):
        raise SdpError(f"m= port must be a number, got {port_text!r}")
    if sep and not _DIGITS.fullmatch(count_text):
        raise SdpError(f"m= port count must be a number, got {count_text!r}")
    return MediaDescription(
        media, int(port_text), proto, tuple(formats), int(count_text) if sep else None
    )
