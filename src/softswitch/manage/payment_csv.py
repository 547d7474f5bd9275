"""Reading a batch of payments: the CSV ``account,amount[,method,reference,memo]`` or the same
as a JSON list, into checked lines and per-line errors.

Pure: no database, no clock. The service decides what an account code means and whether a
line would overdraw; this module only decides whether a line is well-formed, and numbers every
problem by its line in the file (line 1 is the header), so an operator can fix the file and
send it again. Amounts are ``Decimal`` from the text as typed, never through a float: a batch
of 0.1 + 0.2 must land as exactly 0.3.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from softswitch.manage.errors import Invalid
from softswitch.storage.models import PaymentMethod

__all__ = [
    "CSV_COLUMNS",
    "MAX_AMOUNT",
    "MAX_LINES",
    "LineError",
    "PaymentLine",
    "parse_amount",
    "parse_csv",
    "parse_items",
]

CSV_COLUMNS = ("account", "amount", "method", "reference", "memo")
"""The columns a batch file may have; ``account`` (the account code) and ``amount`` are required."""

_REQUIRED = ("account", "amount")

MAX_AMOUNT = Decimal(1_000_000_000)
"""The largest movement accepted at once (in either direction): a typo guard, and it keeps every
balance far inside the BIGINT of micro-units the database stores."""

MAX_LINES = 100_000
"""The longest batch accepted in one request (one transaction)."""

_PLACES = 6  # micro-units: what the Money columns store exactly
_REFERENCE_WIDTH = 128
_MEMO_WIDTH = 2000


@dataclass(frozen=True, slots=True)
class PaymentLine:
    """One well-formed line of a batch (not yet checked against the accounts)."""

    line: int
    account: str
    amount: Decimal
    method: PaymentMethod = PaymentMethod.OTHER
    reference: str = ""
    memo: str = ""


@dataclass(frozen=True, slots=True)
class LineError:
    """Why one line of a batch was refused: its number, the account it named, the field to fix."""

    line: int
    account: str
    field: str
    message: str


def parse_amount(value: object) -> Decimal:
    """An amount as a ``Decimal``: non-zero, finite, at most six decimal places, at most
    :data:`MAX_AMOUNT` either way. Raises ``ValueError`` with the reason.

    Accepts text, integers and ``Decimal`` (JSON numbers arrive as ``Decimal`` when the body is
    parsed with ``parse_float=Decimal``); a float is refused, because by then the digits the
    operator typed are already lost.
    """
    if isinstance(value, bool | float):
        raise ValueError('send the amount as text or an exact number, e.g. "10.50"')
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not an amount such as 10.50 or -3") from None
    else:
        raise ValueError("the amount must be a number such as 10.50")
    if not amount.is_finite():
        raise ValueError("the amount must be a finite number")
    if amount == 0:
        raise ValueError("an amount of 0 moves nothing: give a positive or negative amount")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"at most {MAX_AMOUNT} either way in one movement")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_PLACES:
        raise ValueError(f"at most {_PLACES} decimal places, got {amount}")
    return amount


def _parse_method(value: object) -> PaymentMethod:
    if value is None or value == "":
        return PaymentMethod.OTHER
    text = str(value).strip().lower()
    try:
        return PaymentMethod(text)
    except ValueError:
        allowed = ", ".join(m.value for m in PaymentMethod)
        raise ValueError(f"unknown method {value!r}; one of: {allowed}") from None


def _text(value: object, width: int, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    text = value.strip()
    if len(text) > width:
        raise ValueError(f"{name} is longer than {width} characters")
    return text


def _line(number: int, fields: Mapping[str, object]) -> PaymentLine | LineError:
    """One line from its fields, or the first thing wrong with it."""
    raw_account = fields.get("account")
    account = raw_account.strip() if isinstance(raw_account, str) else ""
    if not account:
        return LineError(number, "", "account", "the account code is missing")
    try:
        amount = parse_amount(fields.get("amount"))
    except ValueError as exc:
        return LineError(number, account, "amount", str(exc))
    try:
        method = _parse_method(fields.get("method"))
    except ValueError as exc:
        return LineError(number, account, "method", str(exc))
    try:
        reference = _text(fields.get("reference"), _REFERENCE_WIDTH, "reference")
        memo = _text(fields.get("memo"), _MEMO_WIDTH, "memo")
    except ValueError as exc:
        field = "reference" if str(exc).startswith("reference") else "memo"
        return LineError(number, account, field, str(exc))
    return PaymentLine(number, account, amount, method, reference, memo)


def _too_many(count: int) -> Invalid:
    return Invalid(
        f"{count} lines is more than {MAX_LINES} in one batch: split the file", field="file"
    )


def parse_csv(text: str) -> tuple[list[PaymentLine], list[LineError]]:
    """The lines of a CSV batch and the errors of its bad lines.

    The header names the columns (any order, case-insensitive); a missing required column or an
    unknown one refuses the whole file (``Invalid``, field ``file``). Blank lines are skipped.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise Invalid(
                "the file is empty: its first line must be the header account,amount",
                field="file",
            )
        columns = [cell.strip().lower() for cell in header]
        unknown = [name for name in columns if name not in CSV_COLUMNS]
        if unknown:
            raise Invalid(
                f"unknown column {unknown[0]!r} on line 1; columns: {', '.join(CSV_COLUMNS)}",
                field="file",
            )
        missing = [name for name in _REQUIRED if name not in columns]
        if missing:
            raise Invalid(
                f"the header (line 1) lacks the column {missing[0]!r}: "
                "start the file with account,amount",
                field="file",
            )
        if len(set(columns)) != len(columns):
            raise Invalid("a column appears twice in the header (line 1)", field="file")
        lines: list[PaymentLine] = []
        errors: list[LineError] = []
        start = reader.line_num + 1
        for row in reader:
            number, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(lines) + len(errors) >= MAX_LINES:
                raise _too_many(len(lines) + len(errors) + 1)
            if len(row) != len(columns):
                account = row[0].strip() if row else ""
                errors.append(
                    LineError(
                        number,
                        account,
                        "file",
                        f"{len(row)} fields where the header has {len(columns)}",
                    )
                )
                continue
            parsed = _line(number, dict(zip(columns, row, strict=True)))
            if isinstance(parsed, LineError):
                errors.append(parsed)
            else:
                lines.append(parsed)
    except csv.Error as exc:
        raise Invalid(f"line {reader.line_num}: not valid CSV ({exc})", field="file") from None
    return lines, errors


def parse_items(items: Sequence[object]) -> tuple[list[PaymentLine], list[LineError]]:
    """The same batch as a JSON list of objects; item *n* (1-based) is reported as line *n*."""
    if len(items) > MAX_LINES:
        raise _too_many(len(items))
    lines: list[PaymentLine] = []
    errors: list[LineError] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            errors.append(LineError(number, "", "file", "each item must be an object"))
            continue
        unknown = sorted(str(key) for key in item if key not in CSV_COLUMNS)
        if unknown:
            errors.append(LineError(number, "", unknown[0], f"unknown field {unknown[0]!r}"))
            continue
        parsed = _line(number, item)
        if isinstance(parsed, LineError):
            errors.append(parsed)
        else:
            lines.append(parsed)
    return lines, errors
