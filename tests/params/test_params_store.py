"""The parameter store: overrides over defaults, change events, override files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.params import (
    ParamChange,
    ParamError,
    ParamStore,
    PortRange,
    load_catalog,
    resend_interval,
)

FAST = settings(max_examples=200, deadline=None)

# Valid override text for parameters of every type, used to build random override sets.
EXAMPLES = {
    "SS_SIP_SESSION_TTL": "1800",
    "SERVER_BILLING_FEE_PRECISION": "6",
    "SS_REPLY_UNAUTHORIZED": "On",
    "SERVER_ALARM_EMAIL": "noc@example.net,ops@example.net",
    "SERVER_BILLING_PROFIT_CALCULATE": "Call charges # minus nothing",
    "SERVER_VERIFY_CLEARING_CUSTOMER_REMAIN_MONEY_LIMIT": "12.3456",
    "SS_SIP_RESEND_INTERVAL": "0.5,1,2",
    "IVR_CODEC_PRIORITY": "G.729,G.711A",
    "SS_RTP_PORT_RANGE": "40000,59999",
    "SS_QOS_RTP": "0xb8",
    "SS_MEDIAPROXYMODE": "Must On",
    "SS_H323_NUMBER_TYPE": "InternationalType(1)",
}


def new_store() -> ParamStore:
    return ParamStore(load_catalog())


def recorder(store: ParamStore) -> list[ParamChange]:
    events: list[ParamChange] = []
    store.subscribe(events.append)
    return events


# -- reading -------------------------------------------------------------------------------------


def test_defaults_apply_until_overridden() -> None:
    store = new_store()
    assert store.get("SS_SIP_SESSION_TTL") == 600
    assert store.get("SS_SIP_SESSION_TIMER") == 600
    assert store.overrides() == {}
    assert store.dump() == ""
    assert not store.is_overridden("SS_SIP_SESSION_TTL")


def test_value_is_typed_by_the_param() -> None:
    store = new_store()
    ttl = store.registry.get("SS_SIP_SESSION_TTL")
    store.set("SS_SIP_SESSION_TTL", "1800")
    assert store.value(ttl) == 1800
    foreign = load_catalog().get("SS_SIP_SESSION_TTL")
    assert store.value(foreign) == 1800  # an equal parameter from an equal catalogue is fine


def test_typed_accessors() -> None:
    store = new_store()
    assert store.get_int("SS_SIP_SESSION_MIN_SE") == 90
    assert store.get_int("SS_QOS_SIGNAL") == 0xA0
    assert store.get_bool("SS_GATEWAY_ASR_CALCULATE") is True
    assert store.get_decimal("SERVER_BILLING_FEE_UNIT") == Decimal(0)
    assert store.get_str("SS_SIP_AUTHENTICATION_CODE") == "Unauthorized(401)"
    assert store.get_str("SS_SIP_NAT_KEEP_ALIVE_MESSAGE") == "HELLO"
    assert store.get_port_range("SS_RTP_PORT_RANGE") == PortRange(10000, 39999)
    assert store.get_strs("IVR_CODEC_PRIORITY")[0] == "G.711A"
    assert store.get_decimals("SS_SIP_RESEND_INTERVAL")[0] == Decimal("0.5")
    with pytest.raises(ParamError, match="SS_SIP_SESSION_TTL has type int, not On/Off"):
        store.get_bool("SS_SIP_SESSION_TTL")
    with pytest.raises(ParamError, match="IVR_CODEC_PRIORITY has type list, not a list"):
        store.get_decimals("IVR_CODEC_PRIORITY")
    with pytest.raises(ParamError, match="has type bool, not a port range"):
        store.get_port_range("SS_TCP_CLOSE_RESET")


def test_durations_in_exact_seconds() -> None:
    store = new_store()
    assert store.seconds("SS_SIP_INVITE_TIMEOUT") == Decimal(30)  # declared in ms
    assert store.seconds("SS_SIP_SESSION_TTL") == Decimal(600)
    assert store.seconds("SERVER_BILLING_PREVENT_OVERDRAFT_ADVANCE_TIME") == Decimal(60)
    store.set("SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL", "1")
    assert store.seconds("SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL") == Decimal("0.001")
    with pytest.raises(ParamError, match="SS_GATEWAY_SWITCH_LIMIT is not a duration"):
        store.seconds("SS_GATEWAY_SWITCH_LIMIT")
    with pytest.raises(
        ParamError, match="IVR_CODEC_PRIORITY has type list, not a list of durations"
    ):
        store.seconds_list("IVR_CODEC_PRIORITY")


def test_resend_interval_gives_the_timer_a_schedule() -> None:
    store = new_store()
    waits = resend_interval(store)
    assert all(isinstance(wait, Decimal) for wait in waits)
    fire_times = [sum(waits[: i + 1], Decimal(0)) for i in range(len(waits))]
    assert fire_times[:4] == [Decimal("0.5"), Decimal("1.5"), Decimal("3.5"), Decimal("7.5")]
    assert len(waits) == 10
    store.set("SS_SIP_RESEND_INTERVAL", "0.25,0.5")
    assert resend_interval(store) == (Decimal("0.25"), Decimal("0.5"))


# -- changing ------------------------------------------------------------------------------------


def test_set_parses_text_and_reports_the_change() -> None:
    store = new_store()
    events = recorder(store)
    change = store.set("fee_precistion", "6")
    assert change == ParamChange("SERVER_BILLING_FEE_PRECISION", 4, 6)
    assert events == [change]
    assert store.get("SERVER_BILLING_FEE_PRECISION") == 6
    assert store.overrides() == {"SERVER_BILLING_FEE_PRECISION": 6}


def test_set_accepts_typed_values() -> None:
    store = new_store()
    store.set("SS_RTP_PORT_RANGE", PortRange(40000, 59999))
    store.set("SERVER_BILLING_FEE_UNIT", Decimal("0.01"))
    store.set("SS_REPLY_UNAUTHORIZED", True)
    assert store.get("SS_RTP_PORT_RANGE") == PortRange(40000, 59999)
    assert store.get("SERVER_BILLING_FEE_UNIT") == Decimal("0.01")
    assert store.get("SS_REPLY_UNAUTHORIZED") is True


def test_set_rejects_bad_values_and_changes_nothing() -> None:
    store = new_store()
    events = recorder(store)
    with pytest.raises(ParamError, match=r"from 90 to 3600 \(seconds\); got '30'"):
        store.set("SS_SIP_SESSION_MIN_SE", "30")
    with pytest.raises(ParamError, match=r"got 0\.5 \(float\)"):
        store.set("SERVER_BILLING_FEE_UNIT", 0.5)
    with pytest.raises(ParamError, match="did you mean SS_SIP_SESSION_TTL"):
        store.set("SS_SIP_SESION_TTL", "600")
    assert store.overrides() == {}
    assert events == []


def test_no_event_when_the_value_in_force_is_unchanged() -> None:
    store = new_store()
    events = recorder(store)
    assert store.set("SS_SIP_SESSION_TTL", "600") is None  # equal to the default
    assert store.is_overridden("SS_SIP_SESSION_TTL")
    assert store.set("SS_SIP_SESSION_TTL", 600) is None
    assert store.reset("SS_SIP_SESSION_TTL") is None  # default equals the override
    assert not store.is_overridden("SS_SIP_SESSION_TTL")
    store.set("SERVER_BILLING_FEE_UNIT", "0.5")
    assert store.set("SERVER_BILLING_FEE_UNIT", "0.50") is None
    assert events == [ParamChange("SERVER_BILLING_FEE_UNIT", Decimal(0), Decimal("0.5"))]


def test_reset_restores_the_default() -> None:
    store = new_store()
    store.set("SS_MEDIAPROXYMODE", "on")
    events = recorder(store)
    assert store.reset("SS_MEDIA_PROXY_MODE") == ParamChange("SS_MEDIAPROXYMODE", "On", "Auto")
    assert store.get("SS_MEDIAPROXYMODE") == "Auto"
    assert store.reset("SS_MEDIAPROXYMODE") is None
    assert len(events) == 1


def test_update_is_all_or_nothing() -> None:
    store = new_store()
    events = recorder(store)
    with pytest.raises(ParamError, match="SS_SIP_SESSION_MIN_SE must be"):
        store.update({"SS_SIP_SESSION_TTL": "1800", "SS_SIP_SESSION_MIN_SE": "30"})
    assert store.get("SS_SIP_SESSION_TTL") == 600
    with pytest.raises(ParamError, match="given twice"):
        store.update({"SS_SIP_SESSION_TTL": "1800", "SS_SIP_SESSION_TIMER": "900"})
    assert store.overrides() == {}
    assert events == []
    changes = store.update({"SS_SIP_SESSION_TTL": "1800", "SS_SIP_SESSION_MIN_SE": "120"})
    assert [c.name for c in changes] == ["SS_SIP_SESSION_TTL", "SS_SIP_SESSION_MIN_SE"]
    assert events == list(changes)


def test_overrides_is_a_copy_in_catalogue_order() -> None:
    store = new_store()
    store.set("SS_QOS_RTP", "0xb8")
    store.set("SERVER_ALARM_DISABLE", "On")
    overrides = store.overrides()
    assert list(overrides) == ["SERVER_ALARM_DISABLE", "SS_QOS_RTP"]
    overrides["SS_QOS_RTP"] = 1
    assert store.get("SS_QOS_RTP") == 0xB8


# -- subscribers ---------------------------------------------------------------------------------


def test_subscribe_notify_unsubscribe() -> None:
    store = new_store()
    first: list[ParamChange] = []
    second: list[ParamChange] = []
    stop_first = store.subscribe(first.append)
    store.subscribe(second.append)
    store.set("SS_TCP_CLOSE_RESET", "On")
    stop_first()
    stop_first()  # a second call is harmless
    store.set("SS_TCP_CLOSE_RESET", "Off")
    on = ParamChange("SS_TCP_CLOSE_RESET", False, True)
    assert first == [on]
    assert second == [on, ParamChange("SS_TCP_CLOSE_RESET", True, False)]


def test_param_change_is_frozen() -> None:
    change = ParamChange("X", 1, 2)
    with pytest.raises(AttributeError):
        change.new = 3  # type: ignore[misc]


def test_subscribers_see_the_whole_batch_stored() -> None:
    store = new_store()
    seen: list[tuple[str, object, object]] = []

    def check(change: ParamChange) -> None:
        seen.append((change.name, store.get("SS_SIP_SESSION_TTL"), store.get("SS_QOS_RTP")))

    store.subscribe(check)
    store.update({"SS_SIP_SESSION_TTL": "1800", "SS_QOS_RTP": "0xb8"})
    assert seen == [("SS_SIP_SESSION_TTL", 1800, 0xB8), ("SS_QOS_RTP", 1800, 0xB8)]


def test_a_failing_subscriber_does_not_silence_the_others() -> None:
    store = new_store()

    def broken(change: ParamChange) -> None:
        raise RuntimeError(f"cannot apply {change.name}")

    store.subscribe(broken)
    events = recorder(store)
    with pytest.raises(ExceptionGroup) as caught:
        store.set("SS_TCP_CLOSE_RESET", "On")
    assert [str(exc) for exc in caught.value.exceptions] == ["cannot apply SS_TCP_CLOSE_RESET"]
    assert events == [ParamChange("SS_TCP_CLOSE_RESET", False, True)]
    assert store.get("SS_TCP_CLOSE_RESET") is True


def test_unsubscribing_during_a_notification() -> None:
    store = new_store()
    events: list[ParamChange] = []

    def once(change: ParamChange) -> None:
        events.append(change)
        stop()

    stop = store.subscribe(once)
    store.update({"SS_SIP_SESSION_TTL": "1800", "SS_QOS_RTP": "0xb8"})
    assert [e.name for e in events] == ["SS_SIP_SESSION_TTL"]


# -- override files ------------------------------------------------------------------------------


def test_load_good_file(tmp_path: Path) -> None:
    path = tmp_path / "params.conf"
    path.write_text(
        "# tuned for the Lagos POP\n"
        "\n"
        "SS_SIP_SESSION_TIMER = 1800\n"
        "  FEE_PRECISTION=6  \n"
        "SERVER_BILLING_PROFIT_CALCULATE = Call charges # not a comment\n"
        "SERVER_NTP_SERVER =\n"
        "SS_SIP_RESEND_INTERVAL = 0.5, 1, 2\n"
        "SS_REPLY_UNAUTHORIZED = Off\n",
        encoding="utf-8",
    )
    store = new_store()
    events = recorder(store)
    changes = store.load_file(path)
    assert store.get("SS_SIP_SESSION_TTL") == 1800
    assert store.get("SERVER_BILLING_FEE_PRECISION") == 6
    assert store.get("SERVER_BILLING_PROFIT_CALCULATE") == "Call charges # not a comment"
    assert store.get("SS_SIP_RESEND_INTERVAL") == (Decimal("0.5"), Decimal(1), Decimal(2))
    # Both of the last two equal their defaults: stored as overrides, but no change event.
    assert store.is_overridden("SERVER_NTP_SERVER") and store.is_overridden("SS_REPLY_UNAUTHORIZED")
    assert [c.name for c in changes] == [
        "SS_SIP_SESSION_TTL",
        "SERVER_BILLING_FEE_PRECISION",
        "SERVER_BILLING_PROFIT_CALCULATE",
        "SS_SIP_RESEND_INTERVAL",
    ]
    assert events == list(changes)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ["SS_SIP_SESSION_TTL = 1800", "# ok", "SS_SIP_SESSION_MIN_SE = 30"],
            "{path}:3: SS_SIP_SESSION_MIN_SE must be an integer from 90 to 3600 (seconds); "
            "got '30'",
        ),
        (
            ["SS_SIP_SESSION_TTL = 1800", "garbage"],
            "{path}:2: expected 'NAME = value', got 'garbage'",
        ),
        (["= 5"], "{path}:1: expected 'NAME = value', got '= 5'"),
        (
            ["", "SS_SIP_SESION_TTL = 600"],
            "{path}:2: unknown parameter 'SS_SIP_SESION_TTL'; did you mean SS_SIP_SESSION_TTL?",
        ),
        (
            ["SS_SIP_SESSION_TTL = 1800", "SS_SIP_SESSION_TIMER = 900"],
            "{path}:2: SS_SIP_SESSION_TTL already set on line 1",
        ),
        (["SS_QOS_RTP = 160"], "{path}:1: SS_QOS_RTP must be a hexadecimal number"),
    ],
)
def test_bad_file_names_the_line_and_changes_nothing(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = tmp_path / "bad.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = new_store()
    store.set("SS_QOS_RTP", "0xb8")
    events = recorder(store)
    with pytest.raises(ParamError) as caught:
        store.load_file(path)
    assert str(caught.value).startswith(message.format(path=path))
    assert store.overrides() == {"SS_QOS_RTP": 0xB8}
    assert events == []


def test_non_utf8_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conf"
    path.write_bytes(b"SS_SIP_AUTHENTICATION_REALM = caf\xe9\n")
    store = new_store()
    with pytest.raises(ParamError, match=r"latin1\.conf: not UTF-8 text"):
        store.load_file(path)
    assert store.overrides() == {}


def test_dump_writes_canonical_text() -> None:
    store = new_store()
    store.set("FEE_PRECISTION", "6")
    store.set("SS_QOS_RTP", "0XB8")
    store.set("SS_SIP_AUTHENTICATION_CODE", "407")
    store.set("SS_TCP_CLOSE_RESET", "1")
    assert store.dump() == (
        "SERVER_BILLING_FEE_PRECISION = 6\n"
        "SS_SIP_AUTHENTICATION_CODE = Proxy Authentication Required(407)\n"
        "SS_TCP_CLOSE_RESET = On\n"
        "SS_QOS_RTP = 0xb8\n"
    )


@FAST
@given(names=st.lists(st.sampled_from(sorted(EXAMPLES)), unique=True))
def test_dump_round_trips_through_apply_text(names: list[str]) -> None:
    store = new_store()
    store.update({name: EXAMPLES[name] for name in names})
    copy = new_store()
    copy.apply_text(store.dump(), "dump")
    assert copy.overrides() == store.overrides()
    assert copy.dump() == store.dump()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ttl=st.integers(60, 86400), min_se=st.integers(90, 3600))
def test_file_values_in_range_are_applied(tmp_path: Path, ttl: int, min_se: int) -> None:
    path = tmp_path / "ranges.conf"
    # The same file is rewritten by every example, so sharing tmp_path is harmless.
    path.write_text(f"SS_SIP_SESSION_TTL = {ttl}\nSS_SIP_SESSION_MIN_SE = {min_se}\n")
    store = new_store()
    store.load_file(path)
    assert store.get_int("SS_SIP_SESSION_TTL") == ttl
    assert store.get_int("SS_SIP_SESSION_MIN_SE") == min_se
