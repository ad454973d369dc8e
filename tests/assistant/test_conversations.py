from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import conversations
from memory import MemoryStore, NewEpisode


def fill(store: MemoryStore) -> None:
    store.add_episodes(
        [
            NewEpisode("Let's plan the garden.", "user", "g", said_at=1e9),
            NewEpisode("Tomatoes love sun.", "assistant", "g", said_at=1e9 + 1),
            NewEpisode("Book me a dentist.", "user", "d", said_at=2e9),
        ]
    )
    store.set_conversation_title("g", "Garden")
    store.set_conversation_title("d", "Errands")


def test_find_by_title_and_by_content(store: MemoryStore) -> None:
    fill(store)
    assert [c.id for c in conversations.find(store, "garden")] == ["g"]
    assert [c.id for c in conversations.find(store, "tomatoes")] == ["g"]
    assert [c.id for c in conversations.find(store, "dentist")] == ["d"]
    assert conversations.find(store, "volcano") == []


def test_rename_and_delete_keep_or_forget(store: MemoryStore) -> None:
    fill(store)
    conversations.rename(store, "g", "Spring garden")
    assert store.get_conversation("g").title == "Spring garden"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        conversations.rename(store, "g", "  ")
    conversations.delete(store, "d", forget=False)
    assert store.get_conversation("d") is None and store.count() == 3  # turns kept
    report = conversations.delete(store, "g", forget=True)
    assert len(report.deleted) == 2 and store.count() == 1


def test_export_markdown_and_json(store: MemoryStore, tmp_path: Path) -> None:
    fill(store)
    md = tmp_path / "all.md"
    assert conversations.export(store, md) == 2
    text = md.read_text()
    assert "# Garden" in text and "**Mneme**" in text and "Tomatoes love sun." in text
    js = tmp_path / "one.json"
    assert conversations.export(store, js, ["g"]) == 1
    data = json.loads(js.read_text())
    assert [t["text"] for t in data["conversations"][0]["turns"]] == [
        "Let's plan the garden.",
        "Tomatoes love sun.",
    ]
