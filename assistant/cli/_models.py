"""``mneme-cli models …``: list, use, add, remove and download model files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mneme.assistant.downloads import DownloadProgress, format_bytes

from ._commands import command
from ._output import Output

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant


@command("models", does=("models.available",))
@command("models", "list", does=("models.available",))
def list_(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    listed = assistant.models.available()
    rows = [
        {
            "path": str(m.path),
            "bundled": m.file.bundled,
            "label": m.file.label,
            "error": m.file.error,
            "in_use": m.in_use,
            "removable": m.removable,
            "context_length": m.file.info.context_length if m.file.info else None,
            "size_bytes": m.size,
        }
        for m in listed
    ]

    def human() -> None:
        for r in rows:
            problem = f"  (unusable: {r['error']})" if r["error"] else ""
            out.say(f"{'*' if r['in_use'] else ' '} {r['label']}  {r['path']}{problem}")
        out.say(f"(put GGUF files in {assistant.models.folder})")

    out.data(rows, human)
    return 0


def _use(assistant: Assistant, path: Path | None, out: Output) -> int:
    assistant.models.use(path)
    shown = str(path) if path is not None else "the bundled model"
    out.data({"model": shown}, lambda: out.say(f"now chatting with {shown}"))
    return 0


@command("models", "use", does=("models.use",))
def use(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    return _use(assistant, None if args.path == "bundled" else Path(args.path), out)


@command("models", "add", does=("models.use",))
def add(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    return _use(assistant, args.path, out)


@command("models", "remove", does=("models.remove",))
def remove(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    if not out.confirm(f"delete {args.path.name} from this computer?", yes=args.yes):
        out.say("(nothing deleted)")
        return 0
    assistant.models.remove(args.path)
    out.data({"removed": str(args.path)}, lambda: out.say(f"deleted {args.path.name}"))
    return 0


@command("models", "download", does=("models.download",))
def download(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    steps = assistant.models.download(args.url, sha256=args.sha256, filename=args.name)
    show = not out.json and out.err.isatty()
    try:
        while True:
            progress: DownloadProgress = next(steps)
            if show:
                total = format_bytes(progress.total) if progress.total else "?"
                out.err.write(f"\r{format_bytes(progress.done)} of {total}")
                out.err.flush()
    except StopIteration as done:
        result = done.value
    if show:
        out.err.write("\n")
    out.data(
        {"path": str(result.path), "size_bytes": result.size, "sha256": result.sha256},
        lambda: out.say(f"downloaded {result.path} ({format_bytes(result.size)})"),
    )
    return 0
