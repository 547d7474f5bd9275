"""The switch's own registration to carriers (issue 7 §3): the pure policy
(``registrar.outbound``) with a fake ``now``, and the runtime service (``runtime.outbound``)
with a recording sender and hand-made snapshots.

The registrar side is the switch's own digest server (``sip.digest_server``), so a digest answer
is checked the way a carrier would check it, not against a copy of our own arithmetic.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import pytest

from softswitch.params import ParamStore, load_catalog
from softswitch.registrar.outbound import (
    MAX_STALE,
    Account,
    Origin,
    OutboundRegistration,
    Phase,
    refresh_after,
    retry_after,
)
from softswitch.routing import GatewayRoute, PrefixTree, Transport
from softswitch.runtime.outbound import OutboundRegistrations, accounts_of
from softswitch.sip.digest import Algorithm
from softswitch.sip.digest_server import AuthOutcome, DigestAuthenticator
from softswitch.sip.events import Peer, ResponseReceived, TransactionTimeout
from softswitch.sip.ids import RandomIds
from softswitch.sip.message import Request, Response
from softswitch.sip.status import make_response
from softswitch.sip.transaction import Role, TransactionKey
from softswitch.snapshot import GatewayInfo, Snapshot
from softswitch.storage.models import Registration

ACCOUNT = Account(1, "GW-REG", "127.0.0.3", 5070, "UDP", "trunk77", "s3cret", 120)
ORIGIN = Origin("127.0.0.1", 5060)


def fixed_bytes(size: int) -> bytes:
    return b"\x01" * size


def registration(account: Account = ACCOUNT) -> OutboundRegistration:
    return OutboundRegistration(account, ORIGIN, RandomIds(b"seed"), fixed_bytes, user_agent="t")


class Carrier:
    """A registrar that challenges with the switch's own digest server."""

    def __init__(self, password: str = "s3cret", *, stale: bool = False) -> None:
        self.auth = DigestAuthenticator(
            "carrier", b"k" * 32, fixed_bytes, algorithms=(Algorithm.MD5,)
        )
        self.password = password
        self.stale = stale

    def challenge(self, request: Request, status: int = 401, now: float = 0.0) -> Response:
        header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        values = self.auth.challenges(now, stale=self.stale)
        return make_response(request, status, to_tag="c", headers=[(header, values[0])])

    def verify(self, request: Request, now: float = 0.0) -> AuthOutcome:
        credentials = request.auth("authorization") or request.auth("proxy-authorization")
        assert credentials, "no credentials"
        result = self.auth.verify(
            "REGISTER", credentials[0], self.password, now, request_uri=request.uri
        )
        return result.outcome


def ok(request: Request, *headers: tuple[str, str]) -> Response:
    return make_response(request, 200, to_tag="c", headers=headers)


# -- the policy --------------------------------------------------------------------------------


def test_register_request_names_the_account_and_our_contact() -> None:
    reg = registration()
    request = reg.register(0.0)
    assert request.method == "REGISTER"
    assert request.uri == "sip:127.0.0.3:5070"
    assert request.get("from") is not None and "<sip:trunk77@127.0.0.3>;tag=" in request.get("from")
    assert request.get("to") == "<sip:trunk77@127.0.0.3>"
    assert request.get("contact") == "<sip:trunk77@127.0.0.1:5060>"
    assert request.get("expires") == "120"
    assert request.top_via.branch is not None and request.top_via.branch.startswith("z9hG4bK")
    again = reg.register(1.0)
    assert again.call_id == request.call_id, "one Call-ID per registration (§10.2.4)"
    assert (request.cseq.seq, again.cseq.seq) == (1, 2)
    assert again.top_via.branch != request.top_via.branch


def test_tcp_account_says_so_in_uri_and_contact() -> None:
    account = replace(ACCOUNT, transport="TCP")
    reg = OutboundRegistration(account, Origin("127.0.0.1", 5060, "TCP"), RandomIds(), fixed_bytes)
    request = reg.register(0.0)
    assert request.uri == "sip:127.0.0.3:5070;transport=tcp"
    assert request.get("contact") == "<sip:trunk77@127.0.0.1:5060;transport=tcp>"
    assert request.top_via.transport == "TCP"


@pytest.mark.parametrize("status", [401, 407])
def test_challenge_is_answered_with_credentials_the_carrier_accepts(status: int) -> None:
    carrier, reg = Carrier(), registration()
    first = reg.register(0.0)
    answer = reg.response(carrier.challenge(first, status), 0.1, max_answers=6)
    assert answer is not None
    assert answer.call_id == first.call_id and answer.cseq.seq == first.cseq.seq + 1
    assert carrier.verify(answer) is AuthOutcome.OK
    assert reg.response(ok(answer), 0.2, max_answers=6) is None
    assert reg.phase is Phase.REGISTERED and reg.granted == 120
    assert reg.next_at == pytest.approx(0.2 + 90)


def test_answers_in_a_row_are_bounded_by_the_retry_parameter() -> None:
    carrier, reg = Carrier(password="other"), registration()
    request: Request | None = reg.register(0.0)
    sent = 0
    while request is not None:
        sent += 1
        request = reg.response(carrier.challenge(request), float(sent), max_answers=2)
    assert sent == 3, "the first REGISTER and two answers"
    assert reg.phase is Phase.FAILED and "SS_SIP_AUTHENTICATION_RETRY" in reg.reason
    assert reg.next_at == pytest.approx(3.0 + 30)
    # The next attempt counts anew.
    request = reg.register(40.0)
    assert reg.response(carrier.challenge(request), 40.1, max_answers=2) is not None


def test_zero_retries_never_answers_a_challenge() -> None:
    reg = registration()
    assert reg.response(Carrier().challenge(reg.register(0.0)), 0.0, max_answers=0) is None
    assert reg.phase is Phase.FAILED


def test_stale_challenges_do_not_count_up_to_a_bound() -> None:
    carrier, reg = Carrier(stale=True), registration()
    request: Request | None = reg.register(0.0)
    sent = 0
    while request is not None:
        sent += 1
        request = reg.response(carrier.challenge(request), 0.0, max_answers=1)
    assert sent == 1 + MAX_STALE + 1


def test_granted_time_comes_from_our_contact_then_the_expires_header() -> None:
    reg = registration()
    request = reg.register(0.0)
    contacts = (
        "Contact",
        "<sip:other@10.0.0.9>;expires=999, <sip:trunk77@127.0.0.1:5060>;expires=60",
    )
    reg.response(ok(request, contacts, ("Expires", "300")), 10.0, max_answers=6)
    assert reg.granted == 60 and reg.next_at == pytest.approx(10.0 + 30)
    request = reg.register(40.0)
    reg.response(ok(request, ("Expires", "300")), 40.0, max_answers=6)
    assert reg.granted == 300 and reg.next_at == pytest.approx(40.0 + 270)


def test_a_200_granting_nothing_is_a_failure() -> None:
    reg = registration()
    request = reg.register(0.0)
    reg.response(ok(request, ("Expires", "0")), 0.0, max_answers=6)
    assert reg.phase is Phase.FAILED


def test_interval_too_brief_is_retried_once_with_min_expires() -> None:
    reg = registration()
    request = reg.register(0.0)
    brief = make_response(request, 423, to_tag="c", headers=[("Min-Expires", "600")])
    retry = reg.response(brief, 0.0, max_answers=6)
    assert retry is not None and retry.get("expires") == "600"
    assert (
        reg.response(
            make_response(retry, 423, to_tag="c", headers=[("Min-Expires", "900")]),
            0.0,
            max_answers=6,
        )
        is None
    )
    assert reg.phase is Phase.FAILED


def test_failures_back_off_doubling_to_a_bound() -> None:
    assert [retry_after(n) for n in (1, 2, 3, 4, 5, 6, 10)] == [30, 60, 120, 240, 480, 600, 600]
    reg = registration()
    for attempt in range(1, 4):
        reg.register(float(attempt))
        reg.failed(float(attempt), "no answer")
    assert reg.failures == 3 and reg.next_at == pytest.approx(3.0 + 120)
    request = reg.register(200.0)
    reg.response(ok(request), 200.0, max_answers=6)
    assert reg.failures == 0


def test_refresh_comes_at_half_the_grant_or_30_s_before_expiry() -> None:
    assert refresh_after(4) == 2
    assert refresh_after(60) == 30
    assert refresh_after(3600) == 3570


def test_unregister_sends_expires_zero_and_answers_its_challenge() -> None:
    carrier, reg = Carrier(), registration()
    assert registration().unregister() is None, "nothing to remove before the first REGISTER"
    request = reg.register(0.0)
    reg.response(ok(request), 0.0, max_answers=6)
    bye = reg.unregister()
    assert bye is not None and bye.get("expires") == "0" and bye.call_id == request.call_id
    answer = reg.response(carrier.challenge(bye), 1.0, max_answers=6)
    assert answer is not None and answer.get("expires") == "0"
    assert carrier.verify(answer) is AuthOutcome.OK
    reg.response(ok(answer), 1.0, max_answers=6)
    assert reg.phase is Phase.UNREGISTERED and reg.next_at is None


# -- the service -------------------------------------------------------------------------------


@dataclass
class Recorder:
    """A Sender that records client requests and lets the test answer them."""

    clock: float = 100.0
    sent: list[tuple[Request, Peer, TransactionKey]] = field(default_factory=list)

    def now(self) -> float:
        return self.clock

    def send_request(self, request: Request, peer: Peer) -> TransactionKey:
        key = TransactionKey(Role.CLIENT, "REGISTER", request.top_via.branch or "", "")
        self.sent.append((request, peer, key))
        return key

    def send_response(self, transaction: TransactionKey, response: Response) -> None:
        raise AssertionError("no responses expected")

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        raise AssertionError("nothing stateless expected")

    def last(self) -> tuple[Request, Peer, TransactionKey]:
        return self.sent[-1]


def gateway(
    gateway_id: int = 1, *, username: str | None = "trunk77", enabled: bool = True, port: int = 5070
) -> GatewayInfo:
    route = GatewayRoute(
        gateway_id, f"GW{gateway_id}", "127.0.0.3", port, Transport.UDP, enabled=enabled
    )
    return GatewayInfo(
        route,
        Registration.STATIC,
        register_username=username,
        register_password="s3cret" if username else None,
        register_expires=120,
    )


def snapshot(version: int, *gateways: GatewayInfo) -> Snapshot:
    return Snapshot(
        version=version,
        routes_tree=PrefixTree(),
        gateways={g.id: g for g in gateways},
        dynamic_gateways={},
        phones={},
        trunks={},
        trunks_by_username={},
        accounts={},
    )


def test_accounts_are_the_enabled_gateways_with_a_register_username() -> None:
    found = accounts_of(
        snapshot(1, gateway(1), gateway(2, username=None), gateway(3, enabled=False))
    )
    assert list(found) == [1]
    assert found[1].username == "trunk77" and found[1].expires == 120


@dataclass
class World:
    params: ParamStore
    sender: Recorder
    service: OutboundRegistrations
    current: list[Snapshot]

    def answer(self, status: int, **kw: str) -> None:
        request, peer, key = self.sender.last()
        headers = [(name.replace("_", "-"), value) for name, value in kw.items()]
        if status == 401:
            headers.append(("WWW-Authenticate", Carrier().auth.challenges(0.0)[0]))
        response = make_response(request, status, to_tag="c", headers=headers)
        assert self.service.handle(ResponseReceived(response, key, peer), self.sender)

    def tick(self) -> None:
        self.service._tick()


@pytest.fixture
async def world() -> World:
    params = ParamStore(load_catalog())
    sender = Recorder()
    current = [snapshot(1, gateway(1))]
    service = OutboundRegistrations(
        params, lambda: current[0], {}, RandomIds(b"x"), random_bytes=fixed_bytes, tick=3600
    )
    service.start(sender)
    return World(params, sender, service, current)


async def test_service_registers_refreshes_and_follows_the_snapshot(world: World) -> None:
    request, peer, _ = world.sender.last()
    assert peer == Peer("UDP", "127.0.0.3", 5070)
    assert request.get("expires") == "120"
    world.answer(401)
    assert world.sender.last()[0].get("authorization") is not None
    world.answer(200, Expires="60")
    assert [s.phase for s in world.service.status()] == ["registered"]
    sent = len(world.sender.sent)

    world.sender.clock += 31  # half of 60
    world.tick()
    assert len(world.sender.sent) == sent + 1, "the refresh"
    world.answer(200, Expires="60")

    # A changed port is another binding: the old one is removed, the new one registered.
    world.current[0] = snapshot(2, gateway(1, port=5080))
    world.tick()
    removed, added = world.sender.sent[-2], world.sender.sent[-1]
    assert removed[0].get("expires") == "0" and removed[1].port == 5070
    assert added[0].get("expires") == "120" and added[1].port == 5080
    assert added[0].call_id != removed[0].call_id

    # Disabled: unregistered.
    world.answer(200, Expires="120")
    world.current[0] = snapshot(3, gateway(1, enabled=False, port=5080))
    world.tick()
    assert world.sender.last()[0].get("expires") == "0"
    assert world.service.status() == []


async def test_unanswered_requests_fail_and_a_raised_limit_retries_at_once(world: World) -> None:
    _, _, key = world.sender.last()
    timeout = TransactionTimeout(key, world.sender.last()[0])
    assert world.service.handle(timeout, world.sender)
    assert [s.phase for s in world.service.status()] == ["failed"]
    sent = len(world.sender.sent)
    world.tick()
    assert len(world.sender.sent) == sent, "waits for its back-off"
    world.params.set("SS_SIP_AUTHENTICATION_RETRY", "3")
    world.tick()
    assert len(world.sender.sent) == sent + 1


async def test_answers_to_a_superseded_request_are_ignored(world: World) -> None:
    _, peer, old_key = world.sender.last()
    world.current[0] = snapshot(2, replace(gateway(1), register_expires=300))
    world.tick()
    assert world.sender.last()[0].get("expires") == "300"
    stale = make_response(world.sender.sent[0][0], 403, to_tag="c")
    assert world.service.handle(ResponseReceived(stale, old_key, peer), world.sender)
    assert [s.phase for s in world.service.status()] == ["registering"]


async def test_stop_unregisters_and_waits_for_the_answer(world: World) -> None:
    world.answer(200)
    stopping = asyncio.ensure_future(world.service.stop(wait=2.0))
    await asyncio.sleep(0.05)
    assert world.sender.last()[0].get("expires") == "0"
    world.answer(200)
    await asyncio.wait_for(stopping, 1.0)


def test_foreign_events_are_left_alone() -> None:
    service = OutboundRegistrations(
        ParamStore(load_catalog()), lambda: snapshot(1), {}, RandomIds()
    )
    key = TransactionKey(Role.CLIENT, "INVITE", "z9hG4bK-other", "")
    request = registration().register(0.0)
    response = make_response(request, 200, to_tag="c")
    assert not service.handle(ResponseReceived(response, key, Peer("UDP", "h", 1)), Recorder())
