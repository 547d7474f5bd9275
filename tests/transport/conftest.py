"""Fixtures of the CLI tests: a data directory with a database at the newest schema, copied
from one migrated once per session (migrating takes longer than copying)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from softswitch.runtime.settings import load_settings
from softswitch.storage import upgrade


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory migrated once (the command itself is tested by
    ``test_db_status_upgrade_status``)."""
    data_dir = tmp_path_factory.mktemp("template") / "data"
    data_dir.mkdir()
    upgrade(load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)}).database_url)
    return data_dir


@pytest.fixture
def data_dir(migrated_template: Path, tmp_path: Path) -> Path:
    """A migrated data directory of the test's own."""
    target = tmp_path / "data"
    shutil.copytree(migrated_template, target)
    return target
