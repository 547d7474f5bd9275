"""Scanner fingerprints in the raw bytes, before parsing (issue 6 §1)."""

from __future__ import annotations

import pytest

from softswitch.security.scanners import DEFAULT_SCANNERS, ScannerFingerprints


def options(*headers: str, body: str = "") -> bytes:
    lines = [
        "OPTIONS sip:100@192.0.2.1 SIP/2.0",
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1;rport",
        "From: <sip:100@192.0.2.1>;tag=1",
        "To: <sip:100@192.0.2.1>",
        "Call-ID: 1@198.51.100.7",
        "CSeq: 1 OPTIONS",
        *headers,
        f"Content-Length: {len(body.encode())}",
        "",
        body,
    ]
    return "\r\n".join(lines).encode()


DEFAULT = ScannerFingerprints(DEFAULT_SCANNERS)


@pytest.mark.parametrize(
    ("data", "scanner"),
    [
        (options("User-Agent: friendly-scanner"), True),
        (options("User-Agent: Friendly-Scanner"), True),
        (options("user-agent: FRIENDLY-SCANNER"), True),
        (options("USER-AGENT:sipvicious 0.3.4"), True),
        (options("User-Agent \t: sipcli/v1.8"), True),
        (options("User-Agent: Mozilla/5.0 (iWar 0.1)"), True),  # anywhere in the value
        (options("User-Agent: VaxSIPUserAgent/3.1"), True),
        (b"User-Agent: sipsak 0.9.6\r\nContent-Length: 0\r\n\r\n", True),  # a stream chunk
        (b"user-agent: sip-scan\n\n", True),  # bare LF line ends
        (options("User-Agent: Linphone/5.2"), False),
        (options("User-Agent: Asterisk PBX 18"), False),
        (options(), False),
        (options("Subject: sipvicious"), False),
        (options("X-User-Agent: friendly-scanner"), False),  # another header
        (options("User-Agent-Id: friendly-scanner"), False),
        (options("User-Agent: Grandstream", "X-Note: friendly-scanner"), False),
        (
            options("User-Agent: Yealink").replace(
                b"From: <sip:100", b'From: "friendly-scanner" <sip:100'
            ),
            False,
        ),
        (options("User-Agent: Zoiper", body="v=0\r\no=friendly-scanner 1 1 IN IP4 x\r\n"), False),
        (options("User-Agent: Zoiper", body="sipvicious"), False),
        (b"", False),
    ],
)
def test_default_fingerprints_table(data: bytes, scanner: bool) -> None:
    assert DEFAULT.match(data) is scanner


@pytest.mark.parametrize("name", DEFAULT_SCANNERS)
def test_every_default_name_is_recognised_in_any_case(name: str) -> None:
    assert DEFAULT.match(options(f"User-Agent: {name}"))
    assert DEFAULT.match(options(f"User-Agent: x {name.swapcase()} y"))
    assert not DEFAULT.match(options("User-Agent: Linphone", f"Subject: {name}"))


def test_a_user_agent_line_in_the_body_of_a_datagram_does_not_match() -> None:
    data = options(
        "User-Agent: Asterisk PBX 18",
        "Content-Type: text/plain",
        body="User-Agent: friendly-scanner\r\n",
    )
    assert not DEFAULT.match(data)


@pytest.mark.parametrize("names", [(), ("",), (" ", "\t")])
def test_an_empty_list_turns_fingerprinting_off(names: tuple[str, ...]) -> None:
    fingerprints = ScannerFingerprints(names)
    assert fingerprints.names == ()
    assert not fingerprints.match(options("User-Agent: friendly-scanner"))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", ()),
        (" , ,", ()),
        ("friendly-scanner", ("friendly-scanner",)),
        ("friendly-scanner, sipvicious ,,iWar", ("friendly-scanner", "sipvicious", "iWar")),
    ],
)
def test_parse_reads_the_comma_list(text: str, names: tuple[str, ...]) -> None:
    assert ScannerFingerprints.parse(text).names == names


def test_parsed_names_match_without_their_spaces() -> None:
    fingerprints = ScannerFingerprints.parse("friendly-scanner , sipvicious")
    assert fingerprints.match(options("User-Agent: sipvicious"))
    assert not fingerprints.match(options("User-Agent: sipcli"))  # not in this list


def test_names_are_literal_text_not_patterns() -> None:
    fingerprints = ScannerFingerprints(("scan.r", "a|b"))
    assert fingerprints.match(options("User-Agent: scan.r 1.0"))
    assert not fingerprints.match(options("User-Agent: scanner 1.0"))
    assert fingerprints.match(options("User-Agent: x a|b"))
    assert not fingerprints.match(options("User-Agent: a"))
