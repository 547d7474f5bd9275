"""Persisted system-parameter overrides, each change with its audit-log row.

Only overrides are stored (see ``models/params.py``), as the parameter's canonical text. The
caller validates the value with ``softswitch.params`` before calling here: this module stores
text and does not know the catalogue, so it stays below the params layer's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.storage.models import ParamOverride
from softswitch.storage.repos.audit import record_audit
from softswitch.storage.repos.changes import record_change

__all__ = [
    "PARAM_ENTITY",
    "Editor",
    "ParamOverrideRepo",
    "delete_override",
    "save_override",
]

PARAM_ENTITY = "param"
"""The ``entity`` of audit rows written for parameter changes."""


@dataclass(frozen=True, slots=True)
class Editor:
    """Who makes a change, as the audit log records it."""

    user_id: int | None
    username: str
    remote_addr: str = ""


class ParamOverrideRepo:
    """Reads and writes ``param_overrides``; ``now`` comes from the caller's clock."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def load(self) -> dict[str, str]:
        """Every stored override, canonical name to text."""
        async with self._sessions() as session:
            rows = await session.scalars(select(ParamOverride).order_by(ParamOverride.name))
            return {row.name: row.value for row in rows}

    async def save(self, editor: Editor, name: str, before: str, value: str, now: datetime) -> None:
        """Store ``value`` as the override of ``name``; ``before`` is the text in force until now.

        Insert or update, the audit row and the change-feed row commit together or not at all.
        """
        async with self._sessions.begin() as session:
            await save_override(session, editor, name, before, value, now)

    async def delete(
        self, editor: Editor, name: str, before: str, default: str, now: datetime
    ) -> bool:
        """Remove the override of ``name`` so its default applies; False when none was stored."""
        async with self._sessions.begin() as session:
            return await delete_override(session, editor, name, before, default, now)


async def save_override(
    session: AsyncSession, editor: Editor, name: str, before: str, value: str, now: datetime
) -> None:
    """:meth:`ParamOverrideRepo.save` inside the caller's transaction (``config apply``)."""
    row = await session.get(ParamOverride, name, with_for_update=True)
    if row is None:
        session.add(
            ParamOverride(name=name, value=value, updated_at=now, updated_by=editor.username)
        )
    else:
        row.value, row.updated_at, row.updated_by = value, now, editor.username
    _audit(session, editor, "update", name, before, value, now)
    record_change(session, entity=PARAM_ENTITY, entity_id=name, action="update", now=now)


async def delete_override(
    session: AsyncSession, editor: Editor, name: str, before: str, default: str, now: datetime
) -> bool:
    """:meth:`ParamOverrideRepo.delete` inside the caller's transaction."""
    row = await session.get(ParamOverride, name, with_for_update=True)
    if row is None:
        return False
    await session.delete(row)
    _audit(session, editor, "reset", name, before, default, now)
    record_change(session, entity=PARAM_ENTITY, entity_id=name, action="reset", now=now)
    return True


def _audit(
    session: AsyncSession,
    editor: Editor,
    action: str,
    name: str,
    before: str,
    after: str,
    now: datetime,
) -> None:
    record_audit(
        session,
        user_id=editor.user_id,
        username=editor.username,
        action=action,
        entity=PARAM_ENTITY,
        entity_id=name,
        before={"name": name, "value": before},
        after={"name": name, "value": after},
        now=now,
        remote_addr=editor.remote_addr,
    )
