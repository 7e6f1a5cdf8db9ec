"""The import arrows of README "Architecture": each part imports only the layers below it.

    cli/, runtime/                      the top: may import everything below
    queries/                            gathers what a command shows from planning/ and store/
    planning/, store/, publishers/,     import only the vocabulary, never each other (render/
    render/                             draws plain data handed to it and reads nothing)
    the vocabulary                      errors, timeutil, text, config, domain, measuring,
                                        media, inputfile, redact, platforms, calendar_data:
                                        import no part above

and planning/ is pure: it reads no clock (it is handed `now`, and its reads from the store
through a protocol). An `ast` walk over every module of `scheduler/`, so a lazy import inside
a function counts as much as one at the top of the file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "scheduler"

VOCABULARY = {
    "errors",
    "timeutil",
    "text",
    "config",
    "domain",
    "measuring",
    "media",
    "inputfile",
    "redact",
    "platforms",
    "calendar_data",
}
ALLOWED: dict[str, set[str]] = {
    "vocabulary": {"vocabulary"},
    "planning": {"vocabulary", "planning"},
    "store": {"vocabulary", "store"},
    "publishers": {"vocabulary", "publishers"},
    "render": {"vocabulary", "render"},
    "queries": {"vocabulary", "queries", "planning", "store"},
    "runtime": {"vocabulary", "runtime", "queries", "planning", "store", "publishers", "render"},
    "cli": {
        "vocabulary",
        "cli",
        "runtime",
        "queries",
        "planning",
        "store",
        "publishers",
        "render",
    },
}
CLOCK_READS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def part_of(module: str) -> str:
    """`scheduler.store.post_sql` -> "store"; `scheduler.domain` -> "vocabulary"."""
    name = module.split(".")[1] if "." in module else ""
    if name in VOCABULARY:
        return "vocabulary"
    if name in ("__main__", "__init__", ""):
        return "cli"  # `python -m scheduler` is the command line
    return name


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module) for every import of a `scheduler` module in the file."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("scheduler")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("scheduler"):
                continue
            if node.module is None:  # `from . import preview`: the names are modules
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return sorted(found)


def wrong_imports(path: Path, module: str) -> list[str]:
    part = part_of(module)
    return [
        f"line {line}: {target} is in {part_of(target)}; {part} may import only "
        f"{sorted(ALLOWED[part])}"
        for line, target in imported(path, module)
        if part_of(target) not in ALLOWED[part]
    ]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_walk_sees_every_part() -> None:
    parts = {part_of(module_name(path)) for path in MODULES}
    assert parts == set(ALLOWED), "a new part of the package needs its place in ALLOWED"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    assert not wrong_imports(path, module_name(path))


@pytest.mark.parametrize("path", sorted((PACKAGE / "planning").glob("*.py")), ids=lambda p: p.name)
def test_planning_reads_no_clock(path: Path) -> None:
    reads = [
        f"line {node.lineno}: .{node.attr}()"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_READS
    ]
    assert not reads, reads


def test_a_wrong_arrow_is_caught(tmp_path: Path) -> None:
    """The walk resolves relative and lazy imports: a planning module reaching the store or
    the CLI is reported, line by line."""
    fake = tmp_path / "fake.py"
    fake.write_text(
        "from ..domain import AiringStatus\n"
        "from .planner import plan_channel\n"
        "from ..store.store import Store\n"
        "def later():\n"
        "    from ..cli import app\n",
        encoding="utf-8",
    )
    wrong = wrong_imports(fake, "scheduler.planning.fake")
    assert [entry.split(":")[0] for entry in wrong] == ["line 3", "line 5"]
    assert "scheduler.store.store is in store" in wrong[0]


def test_the_wheel_carries_every_part() -> None:
    """`pyproject.toml` lists the packages by hand (templates/ is mapped in): a new part left
    out installs a CLI whose commands fail with ModuleNotFoundError."""
    import tomllib

    listed = set(
        tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
            "packages"
        ]
    )
    parts = {module_name(path) for path in PACKAGE.rglob("__init__.py")}
    assert parts <= listed, sorted(parts - listed)
