"""docs/parameters.md is generated from the catalogue and must never go stale."""

from __future__ import annotations

from pathlib import Path

from softswitch.params import load_catalog
from softswitch.params.docs import render_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs/parameters.md"


def test_committed_parameter_docs_match_the_catalogue() -> None:
    # On failure regenerate: python -m softswitch.params.docs > docs/parameters.md
    assert DOCS.read_text(encoding="utf-8") == render_markdown(load_catalog())


def test_docs_table_has_one_row_per_parameter() -> None:
    registry = load_catalog()
    text = render_markdown(registry)
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(registry)
    assert [row.split(" | ")[0] for row in rows] == [f"| `{name}`" for name in registry.names()]
    fee = next(row for row in rows if row.startswith("| `SERVER_BILLING_FEE_PRECISION`"))
    assert "`FEE_PRECISTION`" in fee
    assert "| `0.5,1,2,4,4,4,4,4,4,4` |" in text
    assert "`Unauthorized(401)` / `Proxy Authentication Required(407)`" in text
