"""Security list entries in ``config export``/``apply`` (issue 6 §1), on SQLite and PostgreSQL:
an entry is named by its list, kind, account (by code; null for a global one) and value, so the
same value for two accounts and globally are three entries; the round trip export → apply on
an empty database → identical export; a second apply writes nothing; values are canonical;
errors carry their YAML path; prune deletes the entries the file lacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from test_config_file import WHO, apply_text, context, count, export_text

from fixtures.database import database_url as database_url
from fixtures.database import engine as engine
from fixtures.database import postgres_url as postgres_url
from softswitch.manage import ManageContext
from softswitch.manage.config_file import ConfigInvalid, parse_text
from softswitch.manage.config_plan import Change, apply_plan, plan_config
from softswitch.storage import create_engine, upgrade_engine
from softswitch.storage.models import AuditEntry, SecurityListEntry

DOC = """
version: 1
accounts:
  - {code: C1, currency: USD}
  - {code: C2, currency: USD}
security_list_entries:
  - {list_type: blacklist, kind: ip, value: 203.0.113.9/24, note: scanners}
  - {list_type: blacklist, kind: ip, value: 203.0.113.0/24, account: C1}
  - {list_type: blacklist, kind: ip, value: 203.0.113.0/24, account: C2}
  - {list_type: whitelist, kind: ip, value: 192.0.2.7}
  - {list_type: blacklist, kind: callee, value: '+44', account: null}
  - {list_type: whitelist, kind: callee, value: '+44207', account: C1}
  - {list_type: blacklist, kind: caller, value: '1900'}
"""


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[ManageContext]:
    """A second database (SQLite) holding DOC, to export from."""
    other = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'source.db'}")
    await upgrade_engine(other)
    ctx = context(other)
    await apply_text(ctx, DOC)
    yield ctx
    await other.dispose()


async def test_export_apply_on_an_empty_database_export_is_identical(
    engine: AsyncEngine, source: ManageContext
) -> None:
    exported = await export_text(source)
    document = parse_text(exported)
    assert isinstance(document, dict)
    entries = document["security_list_entries"]
    # sorted by list, kind, account (global first) and value; every field written
    assert entries[:4] == [
        {"list_type": "blacklist", "kind": "callee", "account": None, "value": "+44", "note": ""},
        {"list_type": "blacklist", "kind": "caller", "account": None, "value": "1900", "note": ""},
        {
            "list_type": "blacklist",
            "kind": "ip",
            "account": None,
            "value": "203.0.113.0/24",
            "note": "scanners",
        },
        {
            "list_type": "blacklist",
            "kind": "ip",
            "account": "C1",
            "value": "203.0.113.0/24",
            "note": "",
        },
    ]
    assert [(e["account"], e["value"]) for e in entries[4:]] == [
        ("C2", "203.0.113.0/24"),
        ("C1", "+44207"),
        (None, "192.0.2.7/32"),
    ]
    target = context(engine)
    plan = await apply_text(target, exported)
    assert plan.count("security_list_entry", Change.CREATE) == 7
    assert await count(engine, SecurityListEntry) == 7
    assert await export_text(target) == exported
    # the same file again: nothing to do, nothing written
    audits = await count(engine, AuditEntry)
    again = await apply_text(target, exported)
    assert again.empty and again.unchanged["security_list_entries"] == 7
    assert await count(engine, AuditEntry) == audits
    # the source's own file, spelled differently, is the same configuration
    assert (await plan_config(target, parse_text(DOC))).empty


async def test_a_changed_field_is_an_update_and_prune_deletes_the_rest(
    engine: AsyncEngine,
) -> None:
    ctx = context(engine)
    await apply_text(ctx, DOC)
    changed = DOC.replace("note: scanners", "note: scanner farm").replace(
        "  - {list_type: blacklist, kind: caller, value: '1900'}\n", ""
    )
    plan = await plan_config(ctx, parse_text(changed), prune=True)
    steps = [(s.action, s.key, dict(s.values)) for s in plan.steps]
    assert steps == [
        (Change.UPDATE, "blacklist ip 203.0.113.0/24", {"note": "scanner farm"}),
        (Change.DELETE, "blacklist caller 1900", {}),
    ]
    await apply_plan(ctx, WHO, plan)
    assert await count(engine, SecurityListEntry) == 6
    assert "scanner farm" in await export_text(ctx)


async def test_errors_name_their_yaml_path_and_nothing_is_written(engine: AsyncEngine) -> None:
    ctx = context(engine)
    bad = """
version: 1
accounts:
  - {code: C1, currency: USD}
security_list_entries:
  - {list_type: blacklist, kind: ip, value: '44'}
  - {list_type: blacklist, kind: caller, value: 10.0.0.1}
  - {list_type: blacklist, kind: callee, value: 44}
  - {list_type: greylist, kind: ip, value: 10.0.0.1}
  - {list_type: blacklist, kind: ip, value: 10.0.0.1, account: C9}
  - {list_type: blacklist, kind: ip, value: 10.0.0.1, account: C1}
  - {list_type: blacklist, kind: ip, value: 10.0.0.1/32, account: C1}
"""
    with pytest.raises(ConfigInvalid) as caught:
        await apply_text(ctx, bad)
    errors = {error.path: error.message for error in caught.value.errors}
    assert set(errors) == {
        "security_list_entries[0].value",
        "security_list_entries[1].value",
        "security_list_entries[2].value",
        "security_list_entries[3].list_type",
        "security_list_entries[4].account",
        "security_list_entries[6]",
    }, errors
    assert "'44' is not an IP address or network" in errors["security_list_entries[0].value"]
    assert "is not a number prefix" in errors["security_list_entries[1].value"]
    assert "write it quoted" in errors["security_list_entries[2].value"]
    assert "no account 'C9'" in errors["security_list_entries[4].account"]
    assert "security_list_entries[5]" in errors["security_list_entries[6]"]
    assert await count(engine, SecurityListEntry) == 0
