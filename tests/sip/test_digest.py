"""Digest authentication: RFC 7616 vectors, server verification outcomes, client answers."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.digest import Algorithm, Credential, ha1, parse_algorithm, request_digest
from softswitch.sip.digest_client import (
    DigestClient,
    authorize,
    choose_challenge,
    is_stale,
    offered_qops,
)
from softswitch.sip.digest_server import (
    AuthOutcome,
    DigestAuthenticator,
    NonceLedger,
    challenge_header_name,
    credentials_header_name,
    find_credentials,
)
from softswitch.sip.headers import Challenge, parse_auth
from softswitch.sip.message import Request
from softswitch.sip.parser import parse_message

TORTURE = Path("/work/shared/reference/sip-torture/rfc4475")

# RFC 7616 §3.9.1
RFC_USER = "Mufasa"
RFC_PASSWORD = "Circle of Life"
RFC_REALM = "http-auth@example.org"
RFC_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC_URI = "/dir/index.html"
RFC_RESPONSES = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
}

REALM = "sip.example.net"
SECRET = b"0123456789abcdef0123456789abcdef"
URI = "sip:gw.example.net"


def counter_random() -> Callable[[int], bytes]:
    """Deterministic stand-in for os.urandom: each call returns different bytes."""
    counter = itertools.count()

    def random_bytes(n: int) -> bytes:
        seed = str(next(counter)).encode()
        return hashlib.sha256(seed).digest()[:n].ljust(n, b"\0")

    return random_bytes


def authenticator(
    algorithms: tuple[Algorithm, ...] = (Algorithm.SHA256, Algorithm.MD5),
    timeout: float = 10.0,
    realm: str = REALM,
) -> DigestAuthenticator:
    return DigestAuthenticator(
        realm, SECRET, counter_random(), timeout=timeout, algorithms=algorithms
    )


def rfc_challenge(algorithm: str) -> Challenge:
    return parse_auth(
        f'Digest realm="{RFC_REALM}", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{RFC_NONCE}", opaque="{RFC_OPAQUE}"'
    )


def answer_first(
    auth: DigestAuthenticator,
    now: float,
    *,
    username: str = "alice",
    password: str = "secret",
    method: str = "INVITE",
    uri: str = URI,
    nc: int = 1,
) -> Challenge:
    challenge = parse_auth(auth.challenges(now)[0])
    return parse_auth(authorize(challenge, method, uri, username, password, "cn0nce", nc))


def without(cred: Challenge, name: str) -> Challenge:
    return Challenge(cred.scheme, tuple(p for p in cred.params if p[0] != name))


def replaced(cred: Challenge, name: str, value: str) -> Challenge:
    return Challenge(cred.scheme, tuple((k, value if k == name else v) for k, v in cred.params))


# ----------------------------------------------------------------------------- RFC 7616 §3.9.1
@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example_client_response(algorithm: str) -> None:
    value = authorize(
        rfc_challenge(algorithm), "GET", RFC_URI, RFC_USER, RFC_PASSWORD, RFC_CNONCE, 1
    )
    cred = parse_auth(value)
    assert cred.get("response") == RFC_RESPONSES[algorithm]
    assert cred.get("nc") == "00000001"
    assert cred.get("qop") == "auth"
    assert cred.get("algorithm") == algorithm
    assert cred.get("opaque") == RFC_OPAQUE
    assert cred.get("uri") == RFC_URI
    # nc, qop and algorithm go unquoted (RFC 7616 §3.4).
    assert "nc=00000001" in value and "qop=auth" in value and f"algorithm={algorithm}" in value


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example_request_digest(algorithm: str) -> None:
    alg = parse_algorithm(algorithm)
    assert alg is not None
    digest = request_digest(
        alg,
        ha1(RFC_USER, RFC_REALM, RFC_PASSWORD, alg),
        nonce=RFC_NONCE,
        method="GET",
        uri=RFC_URI,
        qop="auth",
        nc="00000001",
        cnonce=RFC_CNONCE,
    )
    assert digest == RFC_RESPONSES[algorithm]


def rfc_credentials(algorithm: str) -> Challenge:
    # The RFC's Authorization header, without its opaque (which is not ours).
    return parse_auth(
        f'Digest username="{RFC_USER}", realm="{RFC_REALM}", uri="{RFC_URI}", '
        f'algorithm={algorithm}, nonce="{RFC_NONCE}", nc=00000001, cnonce="{RFC_CNONCE}", '
        f'qop=auth, response="{RFC_RESPONSES[algorithm]}"'
    )


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example_server_verification(algorithm: str) -> None:
    auth = authenticator(realm=RFC_REALM)
    creds = rfc_credentials(algorithm)
    # The digest is right, but the RFC's nonce was not issued by us: stale, never OK.
    right = auth.verify("GET", creds, RFC_PASSWORD, 1.0, request_uri=RFC_URI)
    assert right.outcome is AuthOutcome.STALE
    assert right.username == RFC_USER
    assert not right.is_failure
    wrong = auth.verify("GET", creds, "Circle Of Life", 1.0, request_uri=RFC_URI)
    assert wrong.outcome is AuthOutcome.BAD_RESPONSE
    assert wrong.is_failure


# ----------------------------------------------------------------------------- challenges
def test_challenges_offer_sha256_then_md5() -> None:
    auth = authenticator(algorithms=(Algorithm.MD5, Algorithm.SHA256))
    values = auth.challenges(5.0)
    parsed = [parse_auth(v) for v in values]
    assert [c.get("algorithm") for c in parsed] == ["SHA-256", "MD5"]
    assert all(c.scheme == "Digest" for c in parsed)
    assert all(c.get("realm") == REALM and c.get("qop") == "auth" for c in parsed)
    assert parsed[0].get("nonce") == parsed[1].get("nonce")
    assert parsed[0].get("opaque") and parsed[0].get("opaque") == parsed[1].get("opaque")
    assert all(c.get("stale") is None for c in parsed)
    assert 'qop="auth"' in values[0]


def test_stale_challenge_is_flagged_and_nonces_are_fresh() -> None:
    auth = authenticator()
    first = parse_auth(auth.challenges(5.0)[0])
    stale = parse_auth(auth.challenges(5.0, stale=True)[0])
    assert is_stale(stale) and not is_stale(first)
    assert first.get("nonce") != stale.get("nonce")


def test_nonce_records_issue_time_and_rejects_forgery() -> None:
    auth = authenticator()
    nonce = auth.make_nonce(1234.5)
    assert auth.nonce_issued(nonce) == 1234.5
    other = DigestAuthenticator(REALM, b"another secret", counter_random())
    assert other.nonce_issued(nonce) is None
    other_realm = authenticator(realm="elsewhere")
    assert other_realm.nonce_issued(nonce) is None
    for garbage in ["", "abc", "é" * 48, nonce[:-4], nonce + "AAAA", "!" * 48]:
        assert auth.nonce_issued(garbage) is None


def test_constructor_and_random_source_are_checked() -> None:
    with pytest.raises(ValueError):
        DigestAuthenticator(REALM, b"", counter_random())
    with pytest.raises(ValueError):
        DigestAuthenticator(REALM, SECRET, counter_random(), algorithms=())
    short = DigestAuthenticator(REALM, SECRET, lambda n: b"x")
    with pytest.raises(ValueError):
        short.make_nonce(1.0)


def test_header_names() -> None:
    assert challenge_header_name(401) == "WWW-Authenticate"
    assert challenge_header_name(407) == "Proxy-Authenticate"
    assert credentials_header_name(401) == "Authorization"
    assert credentials_header_name(407) == "Proxy-Authorization"


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_round_trip_each_algorithm(algorithm: Algorithm) -> None:
    auth = authenticator(algorithms=(algorithm,))
    client = DigestClient("alice", "secret", counter_random())
    challenges = [parse_auth(v) for v in auth.challenges(100.0)]
    values = client.answer_all(challenges, "REGISTER", URI)
    assert len(values) == 1
    creds = parse_auth(values[0])
    assert creds.get("algorithm") == algorithm.value
    result = auth.verify("REGISTER", creds, "secret", 101.0, request_uri=URI)
    assert result.outcome is AuthOutcome.OK
    assert result.ok and result.username == "alice"


def test_client_prefers_sha256_when_both_offered() -> None:
    auth = authenticator()
    challenges = [parse_auth(v) for v in reversed(auth.challenges(1.0))]
    chosen = choose_challenge(challenges)
    assert chosen is not None and chosen.get("algorithm") == "SHA-256"


@settings(max_examples=150, deadline=None)
@given(
    username=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x24F), min_size=1),
    password=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x24F)),
    algorithm=st.sampled_from(list(Algorithm)),
)
def test_round_trip_any_credentials(username: str, password: str, algorithm: Algorithm) -> None:
    auth = authenticator(algorithms=(algorithm,))
    client = DigestClient(username, password, counter_random())
    challenge = parse_auth(auth.challenges(0.0)[0])
    creds = parse_auth(client.answer(challenge, "INVITE", URI))
    assert creds.get("username") == username
    lookup = {username: password}.get
    assert auth.verify("INVITE", creds, lookup, 1.0).outcome is AuthOutcome.OK
    bad = auth.verify("INVITE", creds, password + "x", 1.0)
    assert bad.outcome is AuthOutcome.BAD_RESPONSE


# ----------------------------------------------------------------------------- expiry
def test_stale_boundary_is_inclusive_of_issue_plus_timeout() -> None:
    # Valid while now <= issued + timeout; one tick later it is stale.
    for now, expected in [(100.0, AuthOutcome.OK), (110.0, AuthOutcome.OK)]:
        auth = authenticator(timeout=10.0)
        creds = answer_first(auth, 100.0)
        assert auth.verify("INVITE", creds, "secret", now).outcome is expected
    auth = authenticator(timeout=10.0)
    creds = answer_first(auth, 100.0)
    late = auth.verify("INVITE", creds, "secret", 110.000001)
    assert late.outcome is AuthOutcome.STALE
    assert not late.is_failure


def test_nonce_from_the_future_is_stale() -> None:
    auth = authenticator()
    creds = answer_first(auth, 100.0)
    assert auth.verify("INVITE", creds, "secret", 99.0).outcome is AuthOutcome.STALE


def test_expired_nonce_with_wrong_password_is_bad_not_stale() -> None:
    auth = authenticator()
    creds = answer_first(auth, 100.0, password="guess")
    assert auth.verify("INVITE", creds, "secret", 500.0).outcome is AuthOutcome.BAD_RESPONSE


# ----------------------------------------------------------------------------- replay
def test_nonce_count_must_increase() -> None:
    auth = authenticator()
    challenge = parse_auth(auth.challenges(0.0)[0])

    def attempt(nc: int) -> AuthOutcome:
        creds = parse_auth(authorize(challenge, "INVITE", URI, "alice", "secret", "c", nc))
        return auth.verify("INVITE", creds, "secret", 1.0).outcome

    assert attempt(1) is AuthOutcome.OK
    assert attempt(1) is AuthOutcome.REPLAY
    assert attempt(2) is AuthOutcome.OK
    assert attempt(1) is AuthOutcome.REPLAY
    assert attempt(5) is AuthOutcome.OK
    assert attempt(3) is AuthOutcome.REPLAY
    assert attempt(5) is AuthOutcome.REPLAY
    assert attempt(6) is AuthOutcome.OK


def test_client_counts_per_nonce() -> None:
    auth = authenticator()
    client = DigestClient("alice", "secret", counter_random())
    first = parse_auth(auth.challenges(0.0)[0])
    second = parse_auth(auth.challenges(0.0)[0])
    ncs = [parse_auth(client.answer(c, "REGISTER", URI)).get("nc") for c in (first, first, second)]
    assert ncs == ["00000001", "00000002", "00000001"]
    cnonces = {parse_auth(client.answer(first, "REGISTER", URI)).get("cnonce") for _ in range(3)}
    assert len(cnonces) == 3
    for _ in range(3):
        creds = parse_auth(client.answer(second, "REGISTER", URI))
        assert auth.verify("REGISTER", creds, "secret", 1.0).outcome is AuthOutcome.OK


def test_ledger_expires_entries() -> None:
    ledger = NonceLedger(timeout=10.0)
    assert ledger.accept("a", 0.0, 1, 1.0) is AuthOutcome.OK
    assert ledger.accept("b", 5.0, 1, 6.0) is AuthOutcome.OK
    assert len(ledger) == 2
    assert ledger.accept("c", 12.0, 1, 12.0) is AuthOutcome.OK
    assert len(ledger) == 2  # "a" expired at 10.0
    assert ledger.accept("d", 20.0, 1, 20.0) is AuthOutcome.OK
    assert len(ledger) == 2  # "b" expired at 15.0


def test_ledger_cap_evicts_oldest_and_refuses_evicted_nonces() -> None:
    ledger = NonceLedger(timeout=100.0, max_entries=2)
    assert ledger.accept("n1", 1.0, 1, 3.0) is AuthOutcome.OK
    assert ledger.accept("n2", 2.0, 1, 3.0) is AuthOutcome.OK
    assert ledger.accept("n3", 3.0, 1, 3.0) is AuthOutcome.OK
    assert len(ledger) == 2
    # n1 was forgotten: its count cannot be trusted any more, so it is stale, not fresh.
    assert ledger.accept("n1", 1.0, 1, 4.0) is AuthOutcome.STALE
    assert ledger.accept("n1", 1.0, 9, 4.0) is AuthOutcome.STALE
    # Refusing n1 evicted nothing: n2 is still remembered, so its count 1 is a replay.
    assert ledger.accept("n2", 2.0, 1, 4.0) is AuthOutcome.REPLAY
    assert ledger.accept("n3", 3.0, 2, 4.0) is AuthOutcome.OK
    with pytest.raises(ValueError):
        NonceLedger(timeout=1.0, max_entries=0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(1, 6), st.floats(0, 3)),
        max_size=40,
    )
)
def test_ledger_never_accepts_a_count_twice(events: list[tuple[int, int, float]]) -> None:
    ledger = NonceLedger(timeout=50.0, max_entries=3)
    highest: dict[int, int] = {}
    now = 0.0
    for nonce, nc, step in events:
        now += step
        outcome = ledger.accept(f"n{nonce}", float(nonce), nc, now)
        assert len(ledger) <= 3
        if outcome is AuthOutcome.OK:
            assert nc > highest.get(nonce, 0)
            highest[nonce] = nc
        elif outcome is AuthOutcome.REPLAY:
            assert nc <= highest[nonce]


# ----------------------------------------------------------------------------- failures
def test_tampered_nonce_is_refused() -> None:
    auth = authenticator()
    creds = answer_first(auth, 0.0)
    nonce = creds.get("nonce") or ""
    tampered = nonce[:10] + ("A" if nonce[10] != "A" else "B") + nonce[11:]
    # Response still computed over the original nonce: the digest no longer matches.
    forged = replaced(creds, "nonce", f'"{tampered}"')
    assert auth.verify("INVITE", forged, "secret", 1.0).outcome is AuthOutcome.BAD_RESPONSE
    # Even a correct digest over the tampered nonce is not accepted: the nonce is not ours.
    challenge = parse_auth(auth.challenges(0.0)[0])
    forged_challenge = replaced(challenge, "nonce", f'"{tampered}"')
    recomputed = parse_auth(authorize(forged_challenge, "INVITE", URI, "alice", "secret", "c"))
    assert auth.verify("INVITE", recomputed, "secret", 1.0).outcome is AuthOutcome.STALE


def test_wrong_password_and_unknown_user() -> None:
    auth = authenticator()
    creds = answer_first(auth, 0.0, password="wrong")
    result = auth.verify("INVITE", creds, "secret", 1.0)
    assert result.outcome is AuthOutcome.BAD_RESPONSE and result.username == "alice"
    users = {"bob": "secret"}
    unknown = auth.verify("INVITE", answer_first(auth, 0.0), users.get, 1.0)
    assert unknown.outcome is AuthOutcome.UNKNOWN_USER and unknown.is_failure


def test_method_is_covered_by_the_digest() -> None:
    auth = authenticator()
    creds = answer_first(auth, 0.0, method="REGISTER")
    assert auth.verify("INVITE", creds, "secret", 1.0).outcome is AuthOutcome.BAD_RESPONSE


def test_wrong_realm_is_malformed() -> None:
    auth = authenticator()
    other = authenticator(realm="other.example.net")
    creds = answer_first(other, 0.0)
    assert auth.verify("INVITE", creds, "secret", 1.0).outcome is AuthOutcome.MALFORMED


@pytest.mark.parametrize(
    "name", ["username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce"]
)
def test_missing_field_is_malformed(name: str) -> None:
    auth = authenticator()
    creds = without(answer_first(auth, 0.0), name)
    result = auth.verify("INVITE", creds, "secret", 1.0)
    assert result.outcome is AuthOutcome.MALFORMED
    assert name in result.detail


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("nc", "zz"),
        ("nc", "000000001"),
        ("nc", "00000000"),
        ("qop", "auth-int"),
        ("algorithm", "SHA-512-256"),
        ("opaque", '"not-ours"'),
        ("userhash", "true"),
    ],
)
def test_bad_field_is_malformed(name: str, value: str) -> None:
    auth = authenticator()
    creds = answer_first(auth, 0.0)
    if creds.get(name) is None:
        creds = Challenge(creds.scheme, (*creds.params, (name, value)))
    else:
        creds = replaced(creds, name, value)
    assert auth.verify("INVITE", creds, "secret", 1.0).outcome is AuthOutcome.MALFORMED


def test_algorithm_not_offered_is_malformed() -> None:
    md5_only = authenticator(algorithms=(Algorithm.MD5,))
    sha_only = authenticator(algorithms=(Algorithm.SHA256,))
    challenge = parse_auth(md5_only.challenges(0.0)[0])
    creds = parse_auth(authorize(challenge, "INVITE", URI, "alice", "secret", "c"))
    assert sha_only.verify("INVITE", creds, "secret", 1.0).outcome is AuthOutcome.MALFORMED


def test_qop_quoted_or_not() -> None:
    auth = authenticator()
    plain = answer_first(auth, 0.0, nc=1)
    assert dict(plain.params)["qop"] == "auth"
    quoted = replaced(answer_first(auth, 0.0, nc=1), "qop", '"auth"')
    assert auth.verify("INVITE", plain, "secret", 1.0).outcome is AuthOutcome.OK
    assert auth.verify("INVITE", quoted, "secret", 1.0).outcome is AuthOutcome.OK


def test_rfc2069_answer_without_qop_is_refused() -> None:
    auth = authenticator()
    challenge = without(parse_auth(auth.challenges(0.0)[0]), "qop")
    creds = parse_auth(authorize(challenge, "INVITE", URI, "alice", "secret", "c"))
    assert creds.get("qop") is None and creds.get("nc") is None and creds.get("cnonce") is None
    result = auth.verify("INVITE", creds, "secret", 1.0)
    assert result.outcome is AuthOutcome.MALFORMED


def test_uri_must_match_request_uri_when_given() -> None:
    auth = authenticator()
    creds = answer_first(auth, 0.0, uri="sip:other.example.net")
    mismatch = auth.verify("INVITE", creds, "secret", 1.0, request_uri=URI)
    assert mismatch.outcome is AuthOutcome.MALFORMED
    ok = auth.verify("INVITE", creds, "secret", 1.0, request_uri="sip:other.example.net")
    assert ok.outcome is AuthOutcome.OK


def test_missing_opaque_is_tolerated() -> None:
    auth = authenticator()
    creds = without(answer_first(auth, 0.0), "opaque")
    assert auth.verify("INVITE", creds, "secret", 1.0).outcome is AuthOutcome.OK


def test_stored_ha1_credentials() -> None:
    auth = authenticator()
    stored = Credential(
        ha1_md5=ha1("alice", REALM, "secret", Algorithm.MD5),
        ha1_sha256=ha1("alice", REALM, "secret", Algorithm.SHA256).upper(),
    )
    # Both challenges share one nonce, so the second answer needs the next nonce-count.
    for nc, challenge_value in enumerate(auth.challenges(0.0), start=1):
        challenge = parse_auth(challenge_value)
        creds = parse_auth(authorize(challenge, "INVITE", URI, "alice", "secret", "c", nc))
        assert auth.verify("INVITE", creds, stored, 1.0).outcome is AuthOutcome.OK
    md5_only = Credential(ha1_md5=ha1("alice", REALM, "secret"))
    creds = answer_first(auth, 0.0)  # SHA-256 (first challenge)
    result = auth.verify("INVITE", creds, md5_only, 1.0)
    assert result.outcome is AuthOutcome.BAD_RESPONSE


def test_sess_ha1_covers_nonce_and_cnonce() -> None:
    # RFC 7616 §3.4.2: HA1 = H(H(user:realm:password):nonce:cnonce) for the -sess variants.
    stored = ha1("alice", REALM, "secret", Algorithm.SHA256)

    def digest(algorithm: Algorithm, cnonce: str) -> str:
        return request_digest(
            algorithm,
            stored,
            nonce="n",
            method="INVITE",
            uri=URI,
            qop="auth",
            nc="00000001",
            cnonce=cnonce,
        )

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    sess_ha1 = sha(f"{stored}:n:a")
    expected = sha(f"{sess_ha1}:n:00000001:a:auth:{sha('INVITE:' + URI)}")
    assert digest(Algorithm.SHA256_SESS, "a") == expected
    assert digest(Algorithm.SHA256, "a") != expected
    assert digest(Algorithm.SHA256_SESS, "b") != expected


def test_regaut01_unknown_scheme_is_malformed_not_a_crash() -> None:
    msg = parse_message((TORTURE / "regaut01.dat").read_bytes())
    assert isinstance(msg, Request)
    creds = msg.auth("authorization")
    assert len(creds) == 1 and creds[0].scheme == "NoOneKnowsThisScheme"
    assert find_credentials(creds, REALM) is None
    result = authenticator().verify("REGISTER", creds[0], "secret", 1.0, request_uri=msg.uri)
    assert result.outcome is AuthOutcome.MALFORMED
    assert result.is_failure


def test_find_credentials_picks_our_realm() -> None:
    ours = parse_auth(f'Digest username="a", realm="{REALM}", nonce="x"')
    theirs = parse_auth('Digest username="a", realm="proxy.example.org", nonce="y"')
    basic = parse_auth("Basic realm=x")
    assert find_credentials([basic, theirs, ours], REALM) is ours
    assert find_credentials([basic, theirs], REALM) is theirs
    assert find_credentials([], REALM) is None


# ----------------------------------------------------------------------------- client
def test_client_rfc2069_form_without_qop() -> None:
    challenge = parse_auth('Digest realm="r", nonce="n1"')
    value = authorize(challenge, "INVITE", URI, "u", "p", "ignored", 1)
    creds = parse_auth(value)
    expected = request_digest(
        Algorithm.MD5, ha1("u", "r", "p"), nonce="n1", method="INVITE", uri=URI, qop=None
    )
    assert creds.get("response") == expected
    for absent in ("qop", "nc", "cnonce", "algorithm", "opaque"):
        assert creds.get(absent) is None


def test_client_refuses_what_it_cannot_answer() -> None:
    auth_int = parse_auth('Digest realm="r", nonce="n", qop="auth-int"')
    unknown = parse_auth('Digest realm="r", nonce="n", algorithm=SHA-512-256, qop="auth"')
    no_nonce = parse_auth('Digest realm="r", qop="auth"')
    sess_no_qop = parse_auth('Digest realm="r", nonce="n", algorithm=MD5-sess')
    basic = parse_auth('Basic realm="r"')
    assert choose_challenge([auth_int, unknown, no_nonce, basic]) is None
    for challenge in (auth_int, unknown, no_nonce, basic, sess_no_qop):
        with pytest.raises(ValueError):
            authorize(challenge, "INVITE", URI, "u", "p", "c")
    client = DigestClient("u", "p", counter_random())
    assert client.answer_all([auth_int, basic], "INVITE", URI) == []
    with pytest.raises(ValueError):
        client.answer(unknown, "INVITE", URI)
    good = parse_auth('Digest realm="r", nonce="n", qop="auth"')
    with pytest.raises(ValueError):
        authorize(good, "INVITE", URI, "u", "p", "c", nc=0)


def test_client_answers_every_realm() -> None:
    a = parse_auth('Digest realm="a", nonce="1", algorithm=MD5, qop="auth"')
    a2 = parse_auth('Digest realm="a", nonce="2", algorithm=SHA-256, qop="auth"')
    b = parse_auth('Digest realm="b", nonce="3", qop="auth,auth-int"')
    client = DigestClient("u", "p", counter_random())
    answers = [parse_auth(v) for v in client.answer_all([a, a2, b], "INVITE", URI)]
    assert [(c.get("realm"), c.get("nonce")) for c in answers] == [("a", "2"), ("b", "3")]
    assert offered_qops(b) == ("auth", "auth-int")


def test_is_stale_variants() -> None:
    assert is_stale(parse_auth('Digest realm="r", nonce="n", stale=TRUE'))
    assert is_stale(parse_auth('Digest realm="r", nonce="n", stale="true"'))
    assert not is_stale(parse_auth('Digest realm="r", nonce="n", stale=false'))
    assert not is_stale(parse_auth('Digest realm="r", nonce="n"'))


def test_parse_algorithm() -> None:
    assert parse_algorithm(None) is Algorithm.MD5
    assert parse_algorithm("sha-256-SESS") is Algorithm.SHA256_SESS
    assert parse_algorithm("md5") is Algorithm.MD5
    assert parse_algorithm("SHA-512-256") is None
