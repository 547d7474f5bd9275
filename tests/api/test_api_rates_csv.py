"""Rate-table CSV upload and download over real HTTP, on SQLite and PostgreSQL (issue 3 §2, §5).

The round trip uses a 100,000-row table: what is downloaded is exactly what the uploaded rows
write as (money to the micro-unit, times in UTC), and the stored Decimals are exact. Bad rows
come back with their line numbers and leave the table as it was; ``skip_bad`` imports the
rest; ``replace`` and ``merge`` differ as documented (a merge keys on prefix, effective_from and
profile); only admin and operator may touch rate tables; an import is one audit row and one
change-feed row.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from api_support import CUSTOMER, USER_PASSWORD, Api
from sqlalchemy import func, select

from softswitch.manage.rate_csv import RateRow, header_line, rate_line, read_rates
from softswitch.manage.rate_import import CHUNK_ROWS
from softswitch.operators import ADMIN_USERNAME
from softswitch.storage import sessions
from softswitch.storage.models import AuditEntry, ChangeRow, Rate, RateTable

HEADER = "prefix,area,rate,initial_increment,subsequent_increment,connection_fee,effective_from\n"
START = datetime(2026, 1, 1, tzinfo=UTC)


async def make_table(api: Api, name: str = "retail") -> int:
    async with sessions(api.engine).begin() as session:
        table = RateTable(name=name, currency="USD")
        session.add(table)
        await session.flush()
        return table.id


def url(table_id: int) -> str:
    return f"/api/v1/rate-tables/{table_id}/rates.csv"


async def upload(
    api: Api, table_id: int, text: str, headers: dict[str, str], **params: str
) -> httpx.Response:
    return await api.client.put(
        url(table_id),
        content=text.encode(),
        params=params,
        headers={**headers, "Content-Type": "text/csv"},
        timeout=120.0,
    )


async def download(api: Api, table_id: int, headers: dict[str, str]) -> str:
    answer = await api.client.get(url(table_id), headers=headers, timeout=120.0)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return answer.text


def parsed(text: str) -> list[RateRow]:
    found = list(read_rates(io.StringIO(text, newline=""), now=START))
    assert all(isinstance(row, RateRow) for row in found)
    return [row for row in found if isinstance(row, RateRow)]


PROFILES = ("", "mon-fri 08:00-18:00", "mon-fri 18:00-08:00; sat,sun")


def big_table(count: int) -> tuple[str, list[RateRow]]:
    """``count`` rows exercising every column (six-place money, several start dates, a few
    closed windows, area names that need quoting, first-period prices, minimum durations and
    profiles, one with a comma), as CSV text and as the rows it means."""
    lines = [
        "prefix,area,rate,initial_increment,subsequent_increment,connection_fee,"
        "effective_from,effective_to,free_seconds,first_price,min_duration,profile\n"
    ]
    rows = []
    starts = [START + timedelta(days=day) for day in range(3)]
    for i in range(count):
        start = starts[i % 3]
        end = start + timedelta(days=30) if i % 7 == 0 else None
        area = f'Area {i % 50}, "mobile"' if i % 11 == 0 else f"Area {i % 50}"
        quoted = '"' + area.replace('"', '""') + '"' if i % 11 == 0 else area
        prefix, rate, fee = str(100000 + i // 3), (i % 1000) * 10**6 + i % 999_999, i % 7
        first = None if i % 4 else i % 5000
        profile = PROFILES[i % 3]
        lines.append(
            f"{prefix},{quoted},{rate // 10**6}.{rate % 10**6:06d},{1 + i % 60},{1 + i % 6},"
            f"0.{fee:06d},{start.date() if i % 2 else start.isoformat()},"
            f"{end.isoformat() if end else ''},{i % 10},"
            f'{"" if first is None else f"0.{first:06d}"},{i % 90},"{profile}"\n'
        )
        rows.append(
            RateRow(
                i + 2,
                prefix,
                area,
                rate,
                1 + i % 60,
                1 + i % 6,
                fee,
                i % 10,
                start,
                end,
                first,
                i % 90,
                profile,
            )
        )
    return "".join(lines), rows


def expected_export(rows: list[RateRow]) -> str:
    ordered = sorted(rows, key=lambda r: (r.prefix, r.effective_from, r.profile))
    return header_line() + "".join(
        rate_line(
            r.prefix,
            r.area_name,
            r.rate_micros,
            r.initial_increment,
            r.subsequent_increment,
            r.connection_fee_micros,
            r.effective_from,
            r.effective_to,
            r.free_seconds,
            r.first_price_micros,
            r.min_duration,
            r.profile,
        )
        for r in ordered
    )


async def test_a_100k_row_table_round_trips_exactly(api: Api) -> None:
    admin = await api.admin()
    table_id = await make_table(api)
    text, uploaded = big_table(100_000)
    answer = await upload(api, table_id, text, admin)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "table_id": table_id,
        "mode": "replace",
        "imported": 100_000,
        "skipped": 0,
        "errors": [],
    }
    downloaded = await download(api, table_id, admin)
    assert downloaded == expected_export(uploaded)
    # The stored Decimals are exact: their sum is the sum of the file's amounts.
    async with sessions(api.engine)() as session:
        stored = (await session.scalars(select(Rate.rate_per_minute))).all()
        firsts = (await session.scalars(select(Rate.first_price))).all()
    assert sorted(stored) == sorted(r.rate_per_minute for r in uploaded)
    assert sum(stored, Decimal(0)) == sum((r.rate_per_minute for r in uploaded), Decimal(0))
    assert sorted(firsts, key=str) == sorted((r.first_price for r in uploaded), key=str)


async def test_bad_rows_come_back_with_line_numbers_and_nothing_is_imported(api: Api) -> None:
    admin = await api.admin()
    table_id = await make_table(api)
    good = f"{HEADER}44,UK,0.1,60,60,0,2026-03-01\n"
    assert (await upload(api, table_id, good, admin)).status_code == 200
    before = await download(api, table_id, admin)
    bad = (
        f"{HEADER}"
        "1,A,0.1,60,60,0,2026-03-01\n"
        "2,B,0.1234567,60,60,0,2026-03-01\n"
        "3,C,0.1,0,60,0,2026-03-01\n"
        "1,A,0.2,60,60,0,2026-03-01T00:00:00Z\n"
    )
    answer = await upload(api, table_id, bad, admin)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"]["code"] == "invalid" and body["error"]["field"] == "file"
    assert body["bad"] == 3
    assert [(e["line"], e["field"]) for e in body["errors"]] == [
        (3, "rate"),
        (4, "initial_increment"),
        (5, "effective_from"),
    ]
    assert "already on line 2" in body["errors"][2]["message"]
    assert await download(api, table_id, admin) == before  # the replace was rolled back


async def test_a_bad_row_after_written_chunks_rolls_everything_back(api: Api) -> None:
    admin = await api.admin()
    table_id = await make_table(api)
    assert (await upload(api, table_id, f"{HEADER}44,UK,0.1,60,60,0,\n", admin)).status_code == 200
    before = await download(api, table_id, admin)
    count = CHUNK_ROWS * 2 + 5  # two chunks reach the database before the bad row is read
    rows = "".join(f"{10**6 + i},A,0.1,60,60,0,2026-03-01\n" for i in range(count))
    answer = await upload(api, table_id, f"{HEADER}{rows}1,B,x,60,60,0,\n", admin)
    assert answer.status_code == 422
    assert [e["line"] for e in answer.json()["errors"]] == [count + 2]
    assert await download(api, table_id, admin) == before


async def test_a_bad_header_is_refused_even_with_skip_bad(api: Api) -> None:
    admin = await api.admin()
    table_id = await make_table(api)
    answer = await upload(api, table_id, "prefix,price\n1,0.1\n", admin, skip_bad="true")
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "header"


async def test_skip_bad_imports_the_good_rows_and_reports_the_bad(api: Api) -> None:
    admin = await api.admin()
    table_id = await make_table(api)
    text = f"{HEADER}1,A,0.1,60,60,0,2026-03-01\n2,B,oops,60,60,0,2026-03-01\n3,C,0.3,6,6,0,\n"
    answer = await upload(api, table_id, text, admin, skip_bad="true")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["imported"], body["skipped"]) == (2, 1)
    assert body["errors"] == [{"line": 3, "field": "rate", "message": body["errors"][0]["message"]}]
    rows = parsed(await download(api, table_id, admin))
    assert [(r.prefix, r.rate_per_minute) for r in rows] == [
        ("1", Decimal("0.1")),
        ("3", Decimal("0.3")),
    ]
    assert rows[1].effective_from == api.clock.now  # empty effective_from: the import's time


async def test_replace_and_merge(api: Api) -> None:
    admin = await api.admin()
    table_id = await make_table(api)
    first = f"{HEADER}44,UK,0.1,60,60,0,2026-03-01\n33,France,0.2,60,60,0,2026-03-01\n"
    assert (await upload(api, table_id, first, admin)).status_code == 200
    merge = f"{HEADER}44,UK,0.15,1,1,0.01,2026-03-01\n49,Germany,0.3,60,60,0,2026-03-01\n"
    assert (await upload(api, table_id, merge, admin, mode="merge")).status_code == 200
    rows = parsed(await download(api, table_id, admin))
    assert [(r.prefix, r.rate_per_minute, r.initial_increment) for r in rows] == [
        ("33", Decimal("0.2"), 60),
        ("44", Decimal("0.15"), 1),
        ("49", Decimal("0.3"), 60),
    ]
    # Uploading a download again changes nothing: import(export(t)) == t.
    downloaded = await download(api, table_id, admin)
    assert (await upload(api, table_id, downloaded, admin)).status_code == 200
    assert await download(api, table_id, admin) == downloaded
    replace = f"{HEADER}1,USA,0.01,6,6,0,2026-03-01\n"
    assert (await upload(api, table_id, replace, admin, mode="replace")).status_code == 200
    assert [r.prefix for r in parsed(await download(api, table_id, admin))] == ["1"]


async def test_a_multipart_upload_works_and_the_import_is_one_audit_and_one_feed_row(
    api: Api,
) -> None:
    admin = await api.admin()
    table_id = await make_table(api)
    text = f"{HEADER}44,UK,0.1,60,60,0,2026-03-01\n33,FR,0.2,60,60,0,2026-03-01\n"
    answer = await api.client.put(
        url(table_id),
        params={"mode": "merge"},
        files={"file": ("prices.csv", text.encode(), "text/csv")},
        data={"note": "ignored"},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["imported"] == 2
    async with sessions(api.engine)() as session:
        feed = (
            await session.scalars(select(ChangeRow).where(ChangeRow.entity == "rate_table"))
        ).all()
        audits = await session.scalars(select(AuditEntry).where(AuditEntry.action == "import"))
        audit = audits.one()
    assert [(row.entity_id, row.action) for row in feed] == [(str(table_id), "replace")]
    assert audit.entity == "rate_table" and audit.entity_id == str(table_id)
    assert audit.username == ADMIN_USERNAME
    assert audit.before == {"rates": 0}
    assert audit.after == {
        "rates": 2,
        "mode": "merge",
        "file": "prices.csv",
        "imported": 2,
        "skipped": 0,
    }


async def test_a_customer_gets_403_and_unknown_tables_404(api: Api) -> None:
    admin = await api.admin()
    customer = await api.login(CUSTOMER, USER_PASSWORD)
    table_id = await make_table(api)
    text = f"{HEADER}44,UK,0.1,60,60,0,2026-03-01\n"
    assert (await upload(api, table_id, text, customer)).status_code == 403
    assert (await api.client.get(url(table_id), headers=customer)).status_code == 403
    assert (await upload(api, table_id + 1, text, admin)).status_code == 404
    assert (await api.client.get(url(table_id + 1), headers=admin)).status_code == 404
    assert (await upload(api, table_id, text, {})).status_code == 401
    async with sessions(api.engine)() as session:
        count = await session.scalar(select(func.count()).select_from(Rate))
    assert count == 0


async def test_bad_bodies_are_4xx(api: Api) -> None:
    admin = await api.admin()
    table_id = await make_table(api)
    not_utf8 = await api.client.put(
        url(table_id),
        content=HEADER.encode() + b"44,\xff\xfe,0.1,60,60,0,2026-03-01\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert not_utf8.status_code == 422 and not_utf8.json()["error"]["field"] == "file"
    json_body = await api.client.put(url(table_id), json={"rates": []}, headers=admin)
    assert json_body.status_code == 415
    no_file = await api.client.put(url(table_id), files={"other": (None, b"x")}, headers=admin)
    assert no_file.status_code == 422


async def test_rates_per_profile_merge_by_profile_and_round_trip(api: Api) -> None:
    """One prefix and start with a rate per time-of-day window: a merge updates the row of the
    same profile only, a download shows every billing column, and uploading it changes
    nothing."""
    admin = await api.admin()
    table_id = await make_table(api)
    header = "prefix,rate,effective_from,first_price,min_duration,profile\n"
    first = (
        f"{header}"
        "44,0.10,2026-03-01,,,\n"
        "44,0.20,2026-03-01,0.05,30,mon-fri 08:00-18:00\n"
        '44,0.05,2026-03-01,,,"mon-fri 18:00-08:00; sat,sun"\n'
    )
    assert (await upload(api, table_id, first, admin)).status_code == 200
    merge = f"{header}44,0.25,2026-03-01,0.06,60,mon-fri 08:00-18:00\n"
    answer = await upload(api, table_id, merge, admin, mode="merge")
    assert answer.status_code == 200, answer.text
    downloaded = await download(api, table_id, admin)
    assert [
        (r.profile, r.rate_per_minute, r.first_price, r.min_duration) for r in parsed(downloaded)
    ] == [
        ("", Decimal("0.1"), None, 0),
        ("mon-fri 08:00-18:00", Decimal("0.25"), Decimal("0.06"), 60),
        ("mon-fri 18:00-08:00; sat,sun", Decimal("0.05"), None, 0),
    ]
    assert downloaded.splitlines()[2] == (
        "44,,0.250000,60,60,0.000000,2026-03-01T00:00:00Z,,0,0.060000,60,mon-fri 08:00-18:00"
    )
    for mode in ("merge", "replace"):
        assert (await upload(api, table_id, downloaded, admin, mode=mode)).status_code == 200
        assert await download(api, table_id, admin) == downloaded, mode


async def test_bad_profiles_and_duplicate_windows_name_their_lines(api: Api) -> None:
    admin = await api.admin()
    table_id = await make_table(api)
    text = (
        "prefix,rate,effective_from,profile\n"
        "44,0.1,2026-03-01,mon-fri 08:00-18:00\n"
        "45,0.1,2026-03-01,weekdays\n"
        "44,0.2,2026-03-01,mon-fri 08:00-18:00\n"
        "44,0.3,2026-03-01,\n"
    )
    answer = await upload(api, table_id, text, admin)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(3, "profile"), (4, "effective_from")]
    assert "'weekdays' is not a time-of-day profile" in errors[0]["message"]
    assert "already on line 2" in errors[1]["message"]
    async with sessions(api.engine)() as session:
        assert await session.scalar(select(func.count()).select_from(Rate)) == 0
