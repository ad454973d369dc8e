"""Conversations through the core: find, rename, delete (keeping or forgetting), export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mneme.assistant.core import Assistant
from mneme.assistant.errors import InvalidRequestError
from mneme.memory import Kind, MemoryNotFoundError, NewEpisode


def fill(core: Assistant) -> None:
    store = core.open_memory()
    store.add_episodes(
        [
            NewEpisode("Let's plan the garden.", "user", "g", said_at=1e9),
            NewEpisode("Tomatoes love sun.", "assistant", "g", said_at=1e9 + 1),
            NewEpisode("Book me a dentist.", "user", "d", said_at=2e9),
        ]
    )
    store.set_conversation_title("g", "Garden")
    store.set_conversation_title("d", "Errands")


def test_find_by_title_and_by_content(core: Assistant) -> None:
    fill(core)
    assert [c.id for c in core.conversations.find("garden")] == ["g"]
    assert [c.id for c in core.conversations.find("tomatoes")] == ["g"]
    assert [c.id for c in core.conversations.find("dentist")] == ["d"]
    assert core.conversations.find("volcano") == []
    assert [c.id for c in core.conversations.all()] == ["d", "g"]  # newest first


def test_rename_and_delete_keep_or_forget(core: Assistant) -> None:
    fill(core)
    store = core.open_memory()
    core.conversations.rename("g", "Spring garden")
    assert core.conversations.get("g").title == "Spring garden"
    with pytest.raises(InvalidRequestError):
        core.conversations.rename("g", "  ")
    with pytest.raises(MemoryNotFoundError):
        core.conversations.rename("nope", "Title")
    core.conversations.delete("d", forget=False)
    assert store.get_conversation("d") is None and store.count() == 3  # turns kept
    report = core.conversations.delete("g", forget=True)
    assert len(report.deleted) == 2 and store.count() == 1


def test_deleting_with_forget_is_true_forgetting(core: Assistant) -> None:
    """What was learnt only from the conversation goes with it, as everywhere."""
    fill(core)
    store = core.open_memory()
    turns = store.conversation("g")
    fact = store.add_memory(Kind.FACT, "The user plans a garden.", sources=[turns[0].id])
    core.conversations.delete("g", forget=True)
    assert store.get_many([fact.id]) == []


def test_turns_carry_the_memories_each_reply_used(core: Assistant) -> None:
    fill(core)
    store = core.open_memory()
    reply = store.conversation("g")[1]
    hits = store.search("garden", k=1)
    store.record_use(reply.id, hits)
    turns = core.conversations.turns("g")
    assert [t.memory.role for t in turns] == ["user", "assistant"]
    assert turns[0].used == () and [h.memory.id for h in turns[1].used] == [hits[0].memory.id]


def test_export_markdown_and_json(core: Assistant, tmp_path: Path) -> None:
    fill(core)
    md = tmp_path / "all.md"
    assert core.conversations.export(md) == 2
    text = md.read_text()
    assert "# Garden" in text and "**Mneme**" in text and "Tomatoes love sun." in text
    js = tmp_path / "one.json"
    assert core.conversations.export(js, ["g"]) == 1
    data = json.loads(js.read_text())
    assert [t["text"] for t in data["conversations"][0]["turns"]] == [
        "Let's plan the garden.",
        "Tomatoes love sun.",
    ]
