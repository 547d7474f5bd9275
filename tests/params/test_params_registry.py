"""The typed parameter registry: catalogue fidelity, per-type parsing, messages and aliases."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.params import Param, ParamError, ParamKind, PortRange, Registry, load_catalog
from softswitch.params.catalog import COLUMNS, catalog_text, extra_catalog_text, parse_catalog
from softswitch.params.values import (
    DecimalListSpec,
    DecimalSpec,
    EnumSpec,
    HexSpec,
    IntSpec,
    PortRangeSpec,
    TextListSpec,
)

REFERENCE = Path(__file__).resolve().parents[3] / "shared/reference/parameters.tsv"
SHIPPED = Path(__file__).resolve().parents[2] / "src/softswitch/params/catalog.tsv"

FAST = settings(max_examples=200, deadline=None)

# Text an operator could type on one line: no control characters, no surrounding blanks.
LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30
).map(str.strip)


def reference_rows() -> list[dict[str, str]]:
    with REFERENCE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_catalog()


def values_for(param: Param[Any]) -> st.SearchStrategy[Any]:
    """Every valid value of ``param``, built from its spec's constraint."""
    spec = param.spec
    if isinstance(spec, IntSpec | HexSpec):
        return st.integers(min_value=spec.low, max_value=spec.high)
    if param.kind is ParamKind.BOOL:
        return st.booleans()
    if isinstance(spec, DecimalSpec):
        return st.decimals(
            min_value=spec.low, max_value=spec.high, allow_nan=False, allow_infinity=False
        )
    if isinstance(spec, DecimalListSpec):
        interval = st.decimals(min_value=Decimal("0.001"), allow_nan=False, allow_infinity=False)
        return st.lists(interval, min_size=1, max_size=12).map(tuple)
    if isinstance(spec, TextListSpec):
        name = LINE_TEXT.filter(lambda text: text != "" and "," not in text)
        return st.lists(name, min_size=1, max_size=8).map(tuple)
    if isinstance(spec, PortRangeSpec):
        ends = st.tuples(st.integers(spec.low, spec.high), st.integers(spec.low, spec.high)).map(
            sorted
        )
        return ends.map(lambda pair: PortRange(pair[0], pair[1]))
    if isinstance(spec, EnumSpec) and spec.choices:
        return st.sampled_from(spec.choices)
    if isinstance(spec, EnumSpec):
        return LINE_TEXT.filter(bool)
    return LINE_TEXT


# -- the catalogue ------------------------------------------------------------------------------


def test_shipped_catalog_is_identical_to_the_reference() -> None:
    assert SHIPPED.read_bytes() == REFERENCE.read_bytes()
    assert catalog_text() == REFERENCE.read_text(encoding="utf-8")


def extra_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(extra_catalog_text().splitlines(), delimiter="\t"))


def test_registry_holds_exactly_the_catalogue_rows(registry: Registry) -> None:
    reference = reference_rows()
    assert tuple(reference[0]) == COLUMNS
    assert len(reference) == 97
    rows = reference + extra_rows()
    assert registry.names() == tuple(row["name"] for row in rows)
    assert len(registry) == len(rows)
    # Our own parameters never shadow one of VOS3000's.
    assert not {row["name"] for row in extra_rows()} & {row["name"] for row in reference}
    for row, param in zip(rows, registry, strict=True):
        assert param.name == row["name"]
        assert param.group == row["group"]
        assert param.kind.value == row["type"]
        assert param.range_text == row["range"]
        assert param.unit == row["unit"]
        assert param.doc == row["meaning"]
        assert param.aliases == tuple(a for a in row["aliases"].split(",") if a)
        assert param.notes == row["notes"]


def test_every_default_validates_and_is_written_canonically(registry: Registry) -> None:
    for row in reference_rows():
        param = registry.get(row["name"])
        param.validate(param.default)
        assert param.parse(row["default"]) == param.default
        # The catalogue already spells every default the way format() does.
        assert param.format(param.default) == row["default"]


def test_defaults_have_the_declared_python_types(registry: Registry) -> None:
    assert registry.get("SS_SIP_SESSION_TTL").default == 600
    assert registry.get("SS_REPLY_UNAUTHORIZED").default is False
    assert registry.get("SERVER_BILLING_RECORD_ILLEGAL_CALL").default is True
    assert registry.get("SERVER_BILLING_FEE_UNIT").default == Decimal(0)
    assert isinstance(registry.get("SERVER_BILLING_FEE_UNIT").default, Decimal)
    assert registry.get("SS_QOS_SIGNAL").default == 0xA0
    assert registry.get("SS_RTP_PORT_RANGE").default == PortRange(10000, 39999)
    assert registry.get("IVR_RTP_PORT").default == PortRange(40000, 47999)
    assert registry.get("SS_MEDIAPROXYMODE").default == "Auto"
    assert registry.get("SS_SIP_RESEND_INTERVAL").default == (
        Decimal("0.5"),
        *(Decimal(n) for n in ("1", "2", "4", "4", "4", "4", "4", "4", "4")),
    )
    assert registry.get("IVR_CODEC_PRIORITY").default == ("G.711A", "G.711U", "G.729", "G.723")


def test_list_kind_is_decided_by_content(registry: Registry) -> None:
    assert isinstance(registry.get("SS_SIP_RESEND_INTERVAL").spec, DecimalListSpec)
    assert isinstance(registry.get("IVR_CODEC_PRIORITY").spec, TextListSpec)


def test_open_ended_and_empty_ranges(registry: Registry) -> None:
    page = registry.get("SERVER_QUERY_ONE_PAGE_SIZE")
    assert page.parse("123456789012") == 123456789012
    assert page.allowed == "an integer of at least 1"
    plan = registry.get("SS_H323_NUMBERING_PLAN")
    assert plan.parse("ISDNTelephonyPlan(1)") == "ISDNTelephonyPlan(1)"
    assert registry.get("SERVER_NTP_SERVER").parse("") == ""


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("X\tg\tint\tabc\t1-10\t\t\t\t", "catalog.tsv:2: X: default 'abc' is not an integer"),
        ("X\tg\tint\t50\t1-10\t\t\t\t", "catalog.tsv:2: X must be an integer from 1 to 10"),
        ("X\tg\tfloat\t1\t\t\t\t\t", "catalog.tsv:2: X: unknown type 'float'"),
        ("X\tg\tint\t1\t1..10\t\t\t\t", "catalog.tsv:2: X: cannot read int range '1..10'"),
        ("X\tg\tint\t1\t\t\t\t", "catalog.tsv:2: expected 9 tab-separated columns, got 8"),
        ("X\tg\thex\t0x0\t\t\t\t\t", "catalog.tsv:2: X: cannot read hex range ''"),
        ("X\tg\trange\t1,2\t1-70000\t\t\t\t", "catalog.tsv:2: X: cannot read range range"),
    ],
)
def test_bad_catalogue_rows_name_the_line(row: str, message: str) -> None:
    with pytest.raises(ParamError) as caught:
        parse_catalog("\t".join(COLUMNS) + "\n" + row + "\n")
    assert str(caught.value).startswith(message)


def test_bad_catalogue_header_is_rejected() -> None:
    with pytest.raises(ParamError, match=r"^catalog.tsv:1: header"):
        parse_catalog("name\tgroup\n")


# -- round trips, per type -----------------------------------------------------------------------


@FAST
@given(data=st.data())
def test_every_parameter_round_trips_its_valid_values(registry: Registry, data: Any) -> None:
    param = data.draw(st.sampled_from(list(registry)))
    value = data.draw(values_for(param))
    param.validate(value)
    assert param.parse(param.format(value)) == value
    assert param.coerce(value) == value


@FAST
@given(value=st.integers(90, 3600))
def test_int_round_trip(registry: Registry, value: int) -> None:
    param = registry.get("SS_SIP_SESSION_MIN_SE")
    assert param.format(value) == str(value)
    assert param.parse(f"  {value} ") == value


@FAST
@given(value=st.integers(0, 0xFF))
def test_hex_round_trip(registry: Registry, value: int) -> None:
    param = registry.get("SS_QOS_RTP")
    text = param.format(value)
    assert text == f"0x{value:02x}"
    assert param.parse(text) == param.parse(text.upper().replace("0X", "0x")) == value


@FAST
@given(value=st.booleans())
def test_bool_round_trip(registry: Registry, value: bool) -> None:
    param = registry.get("SS_TCP_CLOSE_RESET")
    assert param.format(value) == ("On" if value else "Off")
    assert param.parse(param.format(value)) is value
    assert param.parse(param.format(value).upper()) is value
    assert param.parse("1" if value else "0") is value


@FAST
@given(value=st.decimals(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False))
def test_decimal_round_trip(registry: Registry, value: Decimal) -> None:
    param = registry.get("SERVER_BILLING_FEE_UNIT")
    text = param.format(value)
    assert "E" not in text and "e" not in text
    parsed = param.parse(text)
    assert isinstance(parsed, Decimal)
    assert parsed == value


@FAST
@given(value=values_for(load_catalog().get("SS_SIP_RESEND_INTERVAL")))
def test_numeric_list_round_trip(registry: Registry, value: tuple[Decimal, ...]) -> None:
    param = registry.get("SS_SIP_RESEND_INTERVAL")
    text = param.format(value)
    assert text.count(",") == len(value) - 1
    assert param.parse(text.replace(",", " , ")) == value


@FAST
@given(value=values_for(load_catalog().get("IVR_CODEC_PRIORITY")))
def test_text_list_round_trip(registry: Registry, value: tuple[str, ...]) -> None:
    param = registry.get("IVR_CODEC_PRIORITY")
    assert param.parse(param.format(value)) == value


@FAST
@given(low=st.integers(1024, 65535), high=st.integers(1024, 65535))
def test_port_range_round_trip(registry: Registry, low: int, high: int) -> None:
    param = registry.get("SS_RTP_PORT_RANGE")
    value = PortRange(min(low, high), max(low, high))
    assert param.format(value) == f"{value.low},{value.high}"
    assert param.parse(param.format(value)) == value


@FAST
@given(value=LINE_TEXT)
def test_str_round_trip(registry: Registry, value: str) -> None:
    param = registry.get("SS_SIP_AUTHENTICATION_REALM")
    assert param.parse(param.format(value)) == value
    assert param.parse(f" {value}\t") == value


def test_enum_parses_case_insensitively_and_by_code(registry: Registry) -> None:
    param = registry.get("SS_SIP_AUTHENTICATION_CODE")
    assert param.parse("unauthorized(401)") == "Unauthorized(401)"
    assert param.parse("407") == "Proxy Authentication Required(407)"
    mode = registry.get("SS_MEDIAPROXYMODE")
    assert mode.parse("must on") == "Must On"
    assert [mode.parse(mode.format(choice)) for choice in ("Off", "On", "Auto", "Must On")] == [
        "Off",
        "On",
        "Auto",
        "Must On",
    ]


# -- messages --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "SS_SIP_SESSION_MIN_SE",
            "30",
            "SS_SIP_SESSION_MIN_SE must be an integer from 90 to 3600 (seconds); got '30'",
        ),
        (
            "SS_SIP_INVITE_TIMEOUT",
            "2 minutes",
            "SS_SIP_INVITE_TIMEOUT must be an integer from 1000 to 120000 (milliseconds); "
            "got '2 minutes'",
        ),
        (
            "SERVER_QUERY_ONE_PAGE_SIZE",
            "0",
            "SERVER_QUERY_ONE_PAGE_SIZE must be an integer of at least 1; got '0'",
        ),
        ("SS_SIP_SESSION_TTL", "1_000", "SS_SIP_SESSION_TTL must be an integer from 60 to 86400"),
        ("SS_REPLY_UNAUTHORIZED", "yes", "SS_REPLY_UNAUTHORIZED must be On or Off; got 'yes'"),
        (
            "SS_QOS_SIGNAL",
            "0x100",
            "SS_QOS_SIGNAL must be a hexadecimal number from 0x00 to 0xff; got '0x100'",
        ),
        ("SS_QOS_SIGNAL", "160", "SS_QOS_SIGNAL must be a hexadecimal number"),
        (
            "SERVER_BILLING_FEE_UNIT",
            "1000.01",
            "SERVER_BILLING_FEE_UNIT must be a decimal number from 0 to 1000 (money); "
            "got '1000.01'",
        ),
        ("SERVER_BILLING_FEE_UNIT", "1e2", "SERVER_BILLING_FEE_UNIT must be a decimal number"),
        ("SERVER_BILLING_FEE_UNIT", "NaN", "SERVER_BILLING_FEE_UNIT must be a decimal number"),
        (
            "SS_RTP_PORT_RANGE",
            "40000,30000",
            "SS_RTP_PORT_RANGE must be a port range 'low,high' with 1024 <= low <= high <= 65535;"
            " got '40000,30000'",
        ),
        ("SS_RTP_PORT_RANGE", "80,90", "SS_RTP_PORT_RANGE must be a port range"),
        ("SS_RTP_PORT_RANGE", "10000", "SS_RTP_PORT_RANGE must be a port range"),
        (
            "SS_SIP_AUTHENTICATION_CODE",
            "402",
            "SS_SIP_AUTHENTICATION_CODE must be one of Unauthorized(401), "
            "Proxy Authentication Required(407); got '402'",
        ),
        (
            "SS_SIP_RESEND_INTERVAL",
            "0.5,0,1",
            "SS_SIP_RESEND_INTERVAL must be a comma list of one or more positive decimal numbers "
            "(seconds); got '0.5,0,1'",
        ),
        ("SS_SIP_RESEND_INTERVAL", "", "SS_SIP_RESEND_INTERVAL must be a comma list"),
        ("SS_SIP_RESEND_INTERVAL", "0.5,,1", "SS_SIP_RESEND_INTERVAL must be a comma list"),
        ("IVR_CODEC_PRIORITY", "G.711A,,G.729", "IVR_CODEC_PRIORITY must be a comma list"),
        ("SS_H323_NUMBER_TYPE", "", "SS_H323_NUMBER_TYPE must be a non-empty value on one line"),
    ],
)
def test_bad_text_is_rejected_with_what_is_allowed(
    registry: Registry, name: str, text: str, message: str
) -> None:
    with pytest.raises(ParamError) as caught:
        registry.get(name).parse(text)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SS_SIP_SESSION_MIN_SE", 30, "must be an integer from 90 to 3600 (seconds); got '30'"),
        ("SS_SIP_SESSION_MIN_SE", True, "got True (bool)"),
        ("SS_SIP_SESSION_MIN_SE", "90", "got '90' (str)"),
        ("SERVER_BILLING_FEE_UNIT", 0.5, "got 0.5 (float)"),
        ("SERVER_BILLING_FEE_UNIT", 1, "got 1 (int)"),
        ("SERVER_BILLING_FEE_UNIT", Decimal("Infinity"), "got 'Infinity'"),
        ("SS_REPLY_UNAUTHORIZED", 1, "got 1 (int)"),
        ("SS_SIP_RESEND_INTERVAL", [Decimal(1)], "(list)"),
        ("SS_SIP_RESEND_INTERVAL", (0.5, 1.0), "(tuple)"),
        ("SS_SIP_RESEND_INTERVAL", (), "got ''"),
        ("SS_RTP_PORT_RANGE", PortRange(80, 90), "got '80,90'"),
        ("SS_RTP_PORT_RANGE", (10000, 20000), "(tuple)"),
        ("SS_SIP_AUTHENTICATION_CODE", "unauthorized(401)", "got 'unauthorized(401)'"),
        ("SS_SIP_AUTHENTICATION_REALM", " padded", "without leading or trailing blanks"),
        ("SS_SIP_AUTHENTICATION_REALM", "two\nlines", "text on one line"),
        ("IVR_CODEC_PRIORITY", ("G.729", "a,b"), "got 'G.729,a,b'"),
    ],
)
def test_validate_rejects_wrong_type_and_range(
    registry: Registry, name: str, value: object, message: str
) -> None:
    param = registry.get(name)
    with pytest.raises(ParamError) as caught:
        param.validate(value)
    assert str(caught.value).startswith(f"{name} must be ")
    assert message in str(caught.value)


def test_coerce_parses_text_but_keeps_typed_values_strict(registry: Registry) -> None:
    ttl = registry.get("SS_SIP_SESSION_TTL")
    assert ttl.coerce("1800") == 1800
    assert ttl.coerce(1800) == 1800
    with pytest.raises(ParamError, match=r"got 1800\.0 \(float\)"):
        ttl.coerce(1800.0)
    realm = registry.get("SS_SIP_AUTHENTICATION_REALM")
    assert realm.coerce("  example.net ") == "example.net"


def test_port_range_value() -> None:
    ports = PortRange(10000, 10003)
    assert len(ports) == 4
    assert 10000 in ports and 10003 in ports
    assert 10004 not in ports and "10001" not in ports
    with pytest.raises(ValueError, match="above high end"):
        PortRange(2, 1)
    with pytest.raises(ValueError, match="from 1 to 65535"):
        PortRange(1, 70000)


# -- names and aliases -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("FEE_PRECISTION", "SERVER_BILLING_FEE_PRECISION"),
        ("SS_SIP_REGISTRATION_LIGHTWEIGHT", "SS_SIP_REGISTRATION_LIGTHWEIGHT"),
        ("SS_SIP_SESSION_TIMER", "SS_SIP_SESSION_TTL"),
        ("HOLD_TIME_PRECISION", "SERVER_BILLING_HOLD_TIME_PRECISION"),
        ("SS_MEDIA_PROXY_PORT_RANGE", "SS_RTP_PORT_RANGE"),
        ("fee_precistion", "SERVER_BILLING_FEE_PRECISION"),
        ("ss_sip_session_ttl", "SS_SIP_SESSION_TTL"),
    ],
)
def test_aliases_and_case_resolve_to_the_canonical_parameter(
    registry: Registry, alias: str, canonical: str
) -> None:
    param = registry.get(alias)
    assert param.name == canonical
    assert param is registry.get(canonical)
    assert alias in registry


def test_unknown_name_suggests_the_closest(registry: Registry) -> None:
    with pytest.raises(ParamError) as caught:
        registry.get("SS_SIP_SESION_TTL")
    assert str(caught.value) == (
        "unknown parameter 'SS_SIP_SESION_TTL'; did you mean SS_SIP_SESSION_TTL?"
    )
    with pytest.raises(ParamError) as caught:
        registry.get("FEE_PRECISON")
    assert str(caught.value).endswith("did you mean SERVER_BILLING_FEE_PRECISION?")
    with pytest.raises(ParamError) as caught:
        registry.get("WHOLLY_DIFFERENT")
    assert str(caught.value) == "unknown parameter 'WHOLLY_DIFFERENT'"
    assert "WHOLLY_DIFFERENT" not in registry


def test_groups_iterate_in_catalogue_order(registry: Registry) -> None:
    groups = registry.groups()
    assert groups[0] == "server.alarm"
    assert set(groups) == {row["group"] for row in reference_rows() + extra_rows()}
    assert sum(len(registry.in_group(group)) for group in groups) == len(registry)
    sip = registry.in_group("softswitch.sip")
    assert all(param.group == "softswitch.sip" for param in sip)
    assert sip[0].name == "SS_SIP_AUTHENTICATION_CODE"
    with pytest.raises(ParamError, match="unknown parameter group 'nope'"):
        registry.in_group("nope")


def test_a_name_may_not_mean_two_parameters(registry: Registry) -> None:
    ttl = registry.get("SS_SIP_SESSION_TTL")
    clash = Param("OTHER", "g", IntSpec(), 1, aliases=("ss_sip_session_ttl",))
    with pytest.raises(ParamError, match="names both SS_SIP_SESSION_TTL and OTHER"):
        Registry([ttl, clash])


def test_param_rejects_a_default_outside_its_range() -> None:
    with pytest.raises(ParamError, match=r"^X must be an integer from 1 to 10; got '11'$"):
        Param("X", "g", IntSpec(1, 10), 11)


def test_param_is_frozen(registry: Registry) -> None:
    param = registry.get("SS_SIP_SESSION_TTL")
    with pytest.raises(AttributeError):
        param.default = 5  # type: ignore[misc]
    assert param.type is param.kind is ParamKind.INT
