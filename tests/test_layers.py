"""The import rules, read from the source: ``ui → assistant (the core) → memory``.

* ``memory`` imports neither Qt, nor llama.cpp, nor the core or the window;
* ``assistant`` never imports Qt or the window;
* ``ui`` takes from the engine only its public record types (dataclasses, enums,
  errors) through ``mneme.memory``, never an engine module, and never touches a
  store: everything it does to memory goes through the core;
* everything imports as ``mneme.…``: no module claims a bare ``memory``,
  ``assistant`` or ``ui`` import.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from enum import Enum
from pathlib import Path

import pytest

import mneme.memory

ROOT = Path(__file__).parents[1]
PACKAGES = ("memory", "assistant", "ui")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(absolute module, names imported from it) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ["mneme", *path.relative_to(ROOT).parent.parts]
    found: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((module, tuple(alias.name for alias in node.names)))
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}: {module}"
        for path in modules(package)
        for module, _ in imports(path)
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    ]


def test_the_engine_imports_no_window_no_model_runtime_and_no_core() -> None:
    assert offenders("memory", ("PySide6", "llama_cpp", "mneme.assistant", "mneme.ui")) == []


def test_the_core_never_imports_qt_or_the_window() -> None:
    assert offenders("assistant", ("PySide6", "mneme.ui")) == []


def test_nothing_claims_a_bare_top_level_name() -> None:
    bare = tuple(PACKAGES)
    assert [o for p in PACKAGES for o in offenders(p, bare)] == []


def _is_record(value: object) -> bool:
    return inspect.isclass(value) and (
        dataclasses.is_dataclass(value) or issubclass(value, Enum | Exception)
    )


def test_the_window_takes_only_record_types_from_the_engine() -> None:
    wrong = []
    for path in modules("ui"):
        for module, names in imports(path):
            if module.startswith("mneme.memory."):
                wrong.append(f"{path.name}: imports the engine module {module}")
            elif module == "mneme.memory":
                for name in names:
                    value = getattr(mneme.memory, name, None)
                    if not (_is_record(value) or name.isupper()):
                        wrong.append(f"{path.name}: imports {name} from the engine")
    assert wrong == []


@pytest.mark.parametrize("path", modules("ui"), ids=lambda p: p.name)
def test_no_widget_holds_a_store(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    touched = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("store", "_store")
    ]
    assert touched == [], f"{path.name} reaches the store on lines {touched}"


def test_the_window_starts_work_only_through_its_one_helper() -> None:
    """``operations.start`` is CoreOp's; a widget runs core work with a CoreOp."""
    callers = [
        path.name
        for path in modules("ui")
        if "operations.start(" in path.read_text(encoding="utf-8")
    ]
    assert callers == ["core_op.py"]
