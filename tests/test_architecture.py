"""The layer rules of ARCHITECTURE.md, checked on the source.

L1 (protocol cores) and L2 (pure domain) must stay sans-IO: no sockets, event loops, threads,
clocks, ORM or web framework. The check walks every import statement (including ones inside
functions) of every module of those packages, so a violation anywhere fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "softswitch"

# Packages of layers L1 and L2 that exist so far; later issues add billing, security, ...
PURE_PACKAGES = ("sip", "sdp", "rtp", "params", "routing", "billing", "security", "registrar")
# Pure modules of packages that also hold an I/O service (ARCHITECTURE.md: "calls (pure)",
# "cdr.record"): the service lives beside them, the pure part is checked here.
PURE_MODULES = (
    "calls/__init__.py",
    "calls/hunting.py",
    "calls/build.py",
    "calls/control.py",
    "calls/table.py",
    "cdr/record.py",
    "cdr/docs.py",
)
FORBIDDEN = frozenset(
    {"asyncio", "socket", "ssl", "threading", "time", "sqlalchemy", "fastapi", "pydantic"}
)
# The global random generator is forbidden too: identifiers come from an injectable source.
FORBIDDEN_FROM = {"random": None}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def pure_modules(
    packages: tuple[str, ...] = PURE_PACKAGES, modules: tuple[str, ...] = PURE_MODULES
) -> list[Path]:
    found = {path for pkg in packages if (SRC / pkg).is_dir() for path in (SRC / pkg).rglob("*.py")}
    found.update(SRC / module for module in modules if (SRC / module).is_file())
    return sorted(found)


def test_pure_layers_exist() -> None:
    names = {p.parent.name for p in pure_modules()}
    assert {"sip", "sdp", "params"} <= names


@pytest.mark.parametrize("path", pure_modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_module_imports_nothing_forbidden(path: Path) -> None:
    bad = [
        f"line {line}: {name}"
        for line, name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN or name.split(".")[0] in FORBIDDEN_FROM
    ]
    assert not bad, f"{path.relative_to(SRC)} imports I/O or clock modules: {bad}"


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    """The walker must see imports hidden inside functions, or the rule above proves nothing."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import socket\n    from time import monotonic\n")
    names = [name for _, name in imported_modules(sample)]
    assert names == ["socket", "time"]


@pytest.mark.parametrize(
    "path", pure_modules(("sip", "sdp", "rtp"), ()), ids=lambda p: str(p.relative_to(SRC))
)
def test_protocol_core_does_not_import_upper_layers(path: Path) -> None:
    """L1 cores depend on nothing of ours above them (params, transport, runtime ...)."""
    pkg = path.relative_to(SRC).parts[0]
    ours = [
        name
        for _, name in imported_modules(path)
        if name.startswith("softswitch.") and name.split(".")[1] != pkg
    ]
    assert not ours, f"{path.relative_to(SRC)} (L1) imports other softswitch packages: {ours}"
