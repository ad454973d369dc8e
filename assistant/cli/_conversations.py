"""``mneme-cli conversations …``: the window's conversation list, for a terminal."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import TYPE_CHECKING

from ._commands import command
from ._output import Output, memory_json, when

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant
    from mneme.memory import Conversation


def _listing(found: list[Conversation], out: Output) -> None:
    def human() -> None:
        for c in found:
            out.say(f"{c.id}  {when(c.updated_at)}  {c.turns:>4} turns  {c.title or 'Untitled'}")

    out.data([asdict(c) for c in found], human)


@command("conversations", "list", does=("conversations.all",))
def list_(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    _listing(assistant.conversations.all(), out)
    return 0


@command("conversations", "search", does=("conversations.find",))
def search(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    _listing(assistant.conversations.find(args.text), out)
    return 0


@command("conversations", "show", does=("conversations.turns",))
def show(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    assistant.conversations.get(args.id)
    turns = assistant.conversations.turns(args.id)

    def transcript() -> None:
        for t in turns:
            note = "" if t.said.remembered else "  [not remembered]"
            out.say(f"{t.said.speaker or t.said.role}: {t.text}{note}\n")

    out.data(
        [
            {
                **asdict(t.said),
                "text": t.text,
                "memory": memory_json(t.memory) if t.memory else None,
            }
            for t in turns
        ],
        transcript,
    )
    return 0


@command("conversations", "rename", does=("conversations.rename",))
def rename(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    assistant.conversations.rename(args.id, args.title)
    out.data({"id": args.id, "title": args.title}, lambda: out.say("renamed"))
    return 0


@command("conversations", "delete", does=("conversations.delete",))
def delete(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    report = assistant.conversations.delete(args.id, forget=args.forget)
    out.data(
        {"forgotten": list(report.deleted)},
        lambda: out.say(
            f"deleted; {len(report.deleted)} memories forgotten"
            if args.forget
            else "deleted from the list; its turns stay in memory"
        ),
    )
    return 0


@command("conversations", "export", does=("conversations.export",))
def export(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    n = assistant.conversations.export(args.path, args.ids)
    out.data({"exported": n}, lambda: out.say(f"exported {n} conversations to {args.path}"))
    return 0
