"""``mneme-cli settings``, ``secret``, ``backup``, ``restore`` and ``doctor``."""

from __future__ import annotations

import argparse
import getpass
import json
import platform
import sys
import time
from dataclasses import asdict
from importlib import metadata
from typing import TYPE_CHECKING, Any

from mneme.assistant import __version__
from mneme.assistant.core import DEFAULT
from mneme.assistant.llm.base import ModelError
from mneme.assistant.secrets import CHROMA_SERVER_TOKEN, MODEL_SERVER_KEY
from mneme.memory import MemoryStoreError

from ._commands import command
from ._output import Output, UsageError, when

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant

EXIT_MODEL = 3
EXIT_MEMORY = 4
SECRET_NAMES = {"model-server": MODEL_SERVER_KEY, "chroma-server": CHROMA_SERVER_TOKEN}


@command("secret", does=("secrets.set", "secrets.delete", "secrets.describe"))
def secret(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    secrets = assistant.secrets
    if args.action == "status":
        out.data({"kept_in": secrets.describe()}, lambda: out.say(secrets.describe()))
        return 0
    if args.name is None:
        raise UsageError(f"usage: mneme-cli secret {args.action} {{{','.join(SECRET_NAMES)}}}")
    name = SECRET_NAMES[args.name]
    if args.action == "delete":
        secrets.delete(name)
        out.say(f"{args.name} key deleted")
        return 0
    value = getpass.getpass(f"{args.name} key: ") if sys.stdin.isatty() else sys.stdin.readline()
    secrets.set(name, value.strip())
    out.say(f"{args.name} key saved in the {secrets.describe()}")
    return 0


def _setting_value(text: str) -> Any:
    """``4096`` is a number, ``true`` a bool, ``null`` empty; anything else is text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _dotted(values: dict[str, Any], key: str) -> Any:
    found: Any = values
    for part in key.split("."):
        if not isinstance(found, dict) or part not in found:
            raise UsageError(f"{key}: no such setting")
        found = found[part]
    return found


@command("settings", does=("assistant.change_settings", "assistant.apply_settings"))
def settings(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    current = assistant.settings.model_dump()
    if args.action == "show":
        shown = _dotted(current, args.key) if args.key else current
        out.data(shown, lambda: out.say(json.dumps(shown, indent=2, ensure_ascii=False)))
        return 0
    if not args.key or (args.action == "set" and args.value is None):
        raise UsageError(
            f"usage: mneme-cli settings {args.action} KEY" + " VALUE" * (args.action == "set")
        )
    _dotted(current, args.key)
    value = _setting_value(args.value) if args.action == "set" else DEFAULT
    assistant.change_settings({args.key: value})
    shown = _dotted(assistant.settings.model_dump(), args.key)
    out.say(f"{args.key} = {json.dumps(shown, ensure_ascii=False)}")
    return 0


@command("backup", does=("transfer.backup",))
def backup(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    info = assistant.transfer.backup(args.path)
    out.data(
        {"path": str(args.path), "memories": info.memories, "size_bytes": info.size_bytes},
        lambda: out.say(
            f"backed up {info.memories:,} memories and your settings to {args.path} "
            f"({info.size_bytes / 2**20:.1f} MB)"
        ),
    )
    return 0


@command("restore", does=("transfer.restore",))
def restore(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    info = assistant.transfer.backup_info(args.path)
    question = (
        f"replace your memory with the backup of {when(info.created_at)} "
        f"({info.memories:,} memories)?"
    )
    if not out.confirm(question, yes=args.yes):
        out.say("(nothing restored)")
        return 0
    report = assistant.transfer.restore(args.path)
    out.data(
        {"restored": report.memories, "previous": str(report.aside) if report.aside else None},
        lambda: out.say(
            f"restored {report.memories:,} memories"
            + (f"; your previous memory is kept in {report.aside}" if report.aside else "")
        ),
    )
    return 0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


@command("doctor")
def doctor(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    report: dict[str, Any] = {
        "mneme": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {
            p: _version(p)
            for p in (
                "llama-cpp-python",
                "chromadb",
                "sentence-transformers",
                "torch",
                "PySide6-Essentials",
                "keyring",
            )
        },
        "paths": {k: str(v) for k, v in asdict(assistant.paths).items()},
        "settings_warnings": list(assistant.warnings),
        "keyring": assistant.secrets.describe(),
    }
    ok = True
    started = time.perf_counter()
    try:
        model = assistant.open_model()
        report["model"] = {
            "name": model.name,
            "context_length": model.context_length,
            "loads": True,
            "load_s": round(time.perf_counter() - started, 2),
            "path": None if assistant.settings.server.enabled else str(assistant.model_path()),
        }
    except ModelError as exc:
        report["model"] = {"loads": False, "error": str(exc)}
        ok = False
    started = time.perf_counter()
    try:
        st = assistant.open_memory().stats()
        report["memory"] = {
            "opens": True,
            "load_s": round(time.perf_counter() - started, 2),
            "embedder": st.embedder,
            "memories": sum(st.by_kind.values()),
            "size_bytes": st.size_bytes,
            "server": assistant.settings.memory.server_url,
        }
    except MemoryStoreError as exc:
        report["memory"] = {"opens": False, "error": str(exc)}
        ok = False

    def human() -> None:
        out.say(f"mneme {report['mneme']} on Python {report['python']} ({report['platform']})")
        for package, v in report["packages"].items():
            out.say(f"  {package}: {v}")
        for name, path in report["paths"].items():
            out.say(f"  {name} folder: {path}")
        m = report["model"]
        out.say(
            f"model: {m['name']} ({m['context_length']} tokens), loaded in {m['load_s']}s"
            if m["loads"]
            else f"model: NOT USABLE — {m['error']}"
        )
        mm = report["memory"]
        out.say(
            f"memory: {mm['memories']} memories, {mm['size_bytes'] / 2**20:.1f} MB, "
            f"embedder {mm['embedder']}, opened in {mm['load_s']}s"
            if mm["opens"]
            else f"memory: NOT USABLE — {mm['error']}"
        )
        out.say(f"secrets: {report['keyring']}")
        for w in report["settings_warnings"]:
            out.say(f"warning: {w}")

    out.data(report, human)
    return 0 if ok else EXIT_MODEL if not report["model"].get("loads") else EXIT_MEMORY
