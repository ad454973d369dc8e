"""ChatGPT's export format (fixture hand-written to its documented shape) and Mneme's own."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from mneme.assistant.importers import (
    ImportFormatError,
    chatgpt_turns,
    import_file,
    iter_json_array,
)
from mneme.memory import Author, MemoryStore
from mneme.memory.export import export_json

FIXTURE = Path(__file__).parents[1] / "fixtures" / "chatgpt" / "conversations.json"
PORTO = "chatgpt-6631a000-aaaa-4bbb-8ccc-000000000001"


def test_the_branch_last_seen_is_imported_with_its_times(store: MemoryStore) -> None:
    summary = import_file(store, FIXTURE)
    assert (summary.conversations, summary.memories) == (2, 6)
    assert len(summary.skipped) == 2 and "no text" in summary.skipped[0]
    turns = store.conversation(PORTO)
    assert [(t.role, t.text) for t in turns] == [
        ("user", "I'm going to Porto in June with my sister Ana. Where should we stay?"),
        ("assistant", "Ribeira is lovely for a first visit: central and by the river."),
        ("user", "Is this hotel in Ribeira?"),  # the text of a message with an image
        ("assistant", "Yes, it faces the Douro in Ribeira."),  # the tool call is left out
    ]
    assert turns[0].said_at == 1714550410.0 and turns[0].author is Author.IMPORT
    assert turns[0].extra == {"source": "chatgpt", "source_id": "n1"}
    conv = store.get_conversation(PORTO)
    assert conv is not None and conv.title == "Planning a trip to Porto"
    assert (conv.created_at, conv.updated_at) == (1714550400.0, 1714551000.5)
    # a message without a time takes the one before it
    sourdough = store.conversation("chatgpt-6631a000-aaaa-4bbb-8ccc-000000000002")
    assert sourdough[1].said_at == sourdough[0].said_at == 1715000010.0
    assert (
        "Clint Yeastwood"
        in store.search("What is my sourdough starter called?", k=1)[0].memory.text
    )


def test_an_import_run_again_adds_nothing(store: MemoryStore) -> None:
    import_file(store, FIXTURE)
    again = import_file(store, FIXTURE)
    assert again.conversations == 0 and again.already_present == 2
    assert store.count() == 6


def test_a_cut_off_file_fails_clearly_and_what_was_read_stays_whole(
    store: MemoryStore, tmp_path: Path
) -> None:
    data = FIXTURE.read_text()
    cut = tmp_path / "conversations.json"
    cut.write_text(data[: data.index('"title": "Sourdough"') + 40])
    with pytest.raises(ImportFormatError, match="ends inside"):
        import_file(store, cut)
    assert [c.id for c in store.conversations()] == [PORTO]  # complete, not half
    assert len(store.conversation(PORTO)) == 4
    shutil.copy(FIXTURE, cut)  # the full file finishes the job
    assert import_file(store, cut).conversations == 1


@pytest.mark.parametrize("content", [b"", b"   ", b'{"not": "a list"}', b"\xff\xfe\x00junk"])
def test_files_that_are_not_exports(store: MemoryStore, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(ImportFormatError):
        import_file(store, path)
    assert store.count() == 0


def test_large_exports_stream_item_by_item_with_progress() -> None:
    items = [{"title": f"c{i}", "text": "é" * (i % 50)} for i in range(3000)]
    data = json.dumps(items).encode()
    seen: list[int] = []
    got = list(iter_json_array(io.BytesIO(data), lambda done, total: seen.append(done), len(data)))
    assert got == items
    assert len(seen) >= len(data) // 65536 > 4 and seen[-1] == len(data)  # chunk by chunk


def test_a_conversation_without_current_node_follows_the_newest_branch() -> None:
    conversation = json.loads(FIXTURE.read_text())[0]
    del conversation["current_node"]
    texts = [t[1] for t in chatgpt_turns(conversation)]
    assert texts[-1] == "Yes, it faces the Douro in Ribeira."


def test_mneme_exports_are_recognised(store: MemoryStore, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    import_file(store, FIXTURE)
    path = tmp_path / "mine.json"
    export_json(store, path)
    with MemoryStore.open(tmp_path / "other", embedder) as other:
        summary = import_file(other, path)
        assert summary.memories == 6 and other.count() == 6
