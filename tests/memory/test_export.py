"""Export to JSON and back is lossless; Markdown is readable; bad files change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mneme.memory import Author, Kind, MemoryStore, NewEpisode
from mneme.memory.export import ExportFormatError, export_json, export_markdown, import_json


def fill(store: MemoryStore) -> None:
    turns = store.add_episodes(
        [
            NewEpisode(
                "My sister Ana lives in Lisbon.", "user", "c1", said_at=1.7e9, speaker="Rosa"
            ),
            NewEpisode("Lovely city!", "assistant", "c1", said_at=1.7e9 + 5, extra={"n": 1}),
            NewEpisode("I adopted a beagle.", "user", "c2", said_at=1.71e9),
        ]
    )
    store.set_conversation_title("c1", "Family")
    fact = store.add_memory(
        Kind.FACT,
        "Ana lives in Lisbon.",
        sources=[turns[0].id],
        importance=0.8,
        author=Author.CONSOLIDATION,
        scope=None,
    )
    store.update(fact.id, text="Ana lives in Porto.", author=Author.USER)
    store.set_pinned(fact.id, True)
    store.add_memory(
        Kind.SUMMARY,
        "Talked about family.",
        sources=[t.id for t in turns[:2]],
        scope="session",
        conversation_id="c1",
    )
    store.record_access([turns[0].id, fact.id])


def comparable(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    data.pop("exported_at")
    data["memories"].sort(key=lambda m: m["id"])
    return data


def test_json_round_trip_is_lossless(store: MemoryStore, open_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fill(store)
    first = tmp_path / "export.json"
    assert export_json(store, first) == 5
    other = open_store(tmp_path / "other", separate=True)
    report = import_json(other, first)
    assert (report.imported, report.history, report.conversations, report.skipped) == (5, 1, 2, [])
    second = tmp_path / "again.json"
    export_json(other, second)
    assert comparable(first) == comparable(second)
    fact = next(m for m in other.browse().items if m.kind is Kind.FACT)
    assert (
        fact.pinned
        and fact.version == 2
        and other.history(fact.id)[0].text == "Ana lives in Lisbon."
    )
    assert other.search("Ana lives in Porto", k=1)[0].memory.id == fact.id
    # importing again changes nothing
    again = import_json(other, first)
    assert again.imported == 0 and again.already_present == 5 and other.count() == 5


def test_markdown_export_reads_well(store: MemoryStore, tmp_path: Path) -> None:
    fill(store)
    path = tmp_path / "memories.md"
    assert export_markdown(store, path) == 5
    text = path.read_text()
    assert "## Facts" in text and "Ana lives in Porto. " not in text
    assert "Ana lives in Porto" in text and "📌" in text
    assert "### Family" in text and "> My sister Ana lives in Lisbon." in text
    assert "**Rosa**" in text


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        json.dumps({"format": "something-else"}),
        json.dumps({"format": "mneme-memory-export", "version": 99, "memories": []}),
        json.dumps({"format": "mneme-memory-export", "version": 1, "memories": {}}),
    ],
)
def test_files_that_are_not_exports_are_refused(
    store: MemoryStore, tmp_path: Path, content: str
) -> None:
    fill(store)
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ExportFormatError):
        import_json(store, path)
    assert store.count() == 5


def test_bad_records_are_skipped_with_reasons(store: MemoryStore, tmp_path: Path) -> None:
    good = {
        "id": "fa-1",
        "kind": "fact",
        "text": "ok",
        "said_at": 1,
        "stored_at": 1,
        "updated_at": 1,
    }
    records = [
        good,
        {"id": "x"},
        {**good, "id": "fa-2", "kind": "dream"},
        {**good, "id": "fa-3", "text": ""},
        {**good, "id": "fa-4", "extra": {"a": [1]}},
        "just a string",
        {**good, "id": "fa-5", "surprise": 1},
    ]
    path = tmp_path / "mixed.json"
    path.write_text(
        json.dumps({"format": "mneme-memory-export", "version": 1, "memories": records})
    )
    report = import_json(store, path)
    assert report.imported == 1 and len(report.skipped) == 6
    assert "missing field" in report.skipped[0] and "dream" in report.skipped[1]
    assert store.get("fa-1").text == "ok"
