"""Export and import dialogs on a real session and store, with real files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from mneme.memory import Embedder, Kind, Memory, MemoryStore, NewEpisode
from mneme.memory.export import export_json
from mneme.ui.session import AppSession
from mneme.ui.transfer_dialog import (
    ExportContent,
    ExportDialog,
    ExportFormat,
    ImportDialog,
    _TransferDialog,
)
from tests.exports import big_chatgpt_export

from .memory_session import memory_session, store_of

CHATGPT = Path(__file__).parents[1] / "fixtures" / "chatgpt" / "conversations.json"
PORTO = "chatgpt-6631a000-aaaa-4bbb-8ccc-000000000001"


@pytest.fixture
def session(qtbot: QtBot, home: Path, embedder: Embedder) -> Iterator[AppSession]:
    yield from memory_session(qtbot, home, embedder)


def remember(store: MemoryStore) -> list[Memory]:
    """Two turns of a titled conversation and a fact drawn from them."""
    turns = store.add_episodes(
        [
            NewEpisode("I am going to Porto in June.", "user", "trip", said_at=1_714_550_000.0),
            NewEpisode("Ribeira is lovely in June.", "assistant", "trip", said_at=1_714_550_060.0),
        ]
    )
    store.set_conversation_title("trip", "Porto trip")
    fact = store.add_memory(
        Kind.FACT, "The user travels to Porto in June.", sources=[turns[0].id], said_at=1.7e9
    )
    return [*turns, fact]


def snapshot(store: MemoryStore) -> list[Memory]:
    return store.get_many([m.id for m in store.browse().items])


def run(qtbot: QtBot, dialog: _TransferDialog) -> tuple[bool, str]:
    with qtbot.waitSignal(dialog.transferFinished, timeout=60_000) as finished:
        assert dialog.start()
    assert not dialog.running and dialog.status.text() == finished.args[1]
    return finished.args[0], finished.args[1]


def export_dialog(qtbot: QtBot, session: AppSession) -> ExportDialog:
    dialog = ExportDialog(session)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def import_dialog(qtbot: QtBot, session: AppSession, path: Path) -> ImportDialog:
    dialog = ImportDialog(session)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_path(path)
    return dialog


# -- export -------------------------------------------------------------------------


def test_export_everything_as_json_writes_a_complete_file(
    qtbot: QtBot, session: AppSession, tmp_path: Path
) -> None:
    memories = remember(store_of(session))
    dialog = export_dialog(qtbot, session)
    assert not dialog.start_button.isEnabled()  # no file yet
    dialog.set_path(tmp_path / "backup")  # no suffix: the format's is added
    assert dialog.path == tmp_path / "backup.json" and dialog.format is ExportFormat.JSON
    ok, text = run(qtbot, dialog)
    assert ok and text == f"Exported 3 memories to {tmp_path / 'backup.json'}."
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum()
    data = json.loads((tmp_path / "backup.json").read_text())
    assert data["format"] == "mneme-memory-export"
    assert {m["id"]: m["text"] for m in data["memories"]} == {m.id: m.text for m in memories}
    assert data["conversations"][0]["title"] == "Porto trip"


def test_export_as_markdown_for_reading(qtbot: QtBot, session: AppSession, tmp_path: Path) -> None:
    remember(store_of(session))
    dialog = export_dialog(qtbot, session)
    dialog.set_path(tmp_path / "notes.md")  # the suffix chooses the format
    assert dialog.format is ExportFormat.MARKDOWN
    ok, text = run(qtbot, dialog)
    assert ok and text.startswith("Exported 3 memories")
    written = (tmp_path / "notes.md").read_text()
    assert written.startswith("# Mneme memories") and "3 memories" in written
    assert "## Facts" in written and "The user travels to Porto in June." in written
    assert "### Porto trip" in written and "> I am going to Porto in June." in written


def test_export_conversations_only_in_either_format(
    qtbot: QtBot, session: AppSession, tmp_path: Path
) -> None:
    remember(store_of(session))
    dialog = export_dialog(qtbot, session)
    dialog.set_content(ExportContent.CONVERSATIONS)
    dialog.set_path(tmp_path / "talks.md")
    ok, text = run(qtbot, dialog)
    assert ok and text == f"Exported 1 conversation to {tmp_path / 'talks.md'}."
    written = (tmp_path / "talks.md").read_text()
    assert written.startswith("# Porto trip") and "Ribeira is lovely in June." in written
    assert "travels to Porto" not in written  # facts are not conversations
    dialog.set_format(ExportFormat.JSON)  # the file follows the format
    assert dialog.path == tmp_path / "talks.json"
    assert run(qtbot, dialog)[0]
    data = json.loads((tmp_path / "talks.json").read_text())
    assert data["format"] == "mneme-conversations"
    assert [t["text"] for t in data["conversations"][0]["turns"]] == [
        "I am going to Porto in June.",
        "Ribeira is lovely in June.",
    ]


def test_an_export_that_cannot_be_written_says_so(
    qtbot: QtBot, session: AppSession, tmp_path: Path
) -> None:
    remember(store_of(session))
    dialog = export_dialog(qtbot, session)
    dialog.set_path(tmp_path / "missing-folder" / "backup.json")
    ok, text = run(qtbot, dialog)
    assert not ok and text.startswith("backup.json could not be written (")
    assert text.endswith("nothing was changed.") and not (tmp_path / "missing-folder").exists()
    assert dialog.start_button.isEnabled() and dialog.cancel_button.text() == "Close"


# -- import -------------------------------------------------------------------------


def test_import_a_chatgpt_export_then_again(
    qtbot: QtBot, session: AppSession, tmp_path: Path
) -> None:
    store = store_of(session)
    remember(store)
    before = snapshot(store)
    path = tmp_path / "conversations.json"
    shutil.copy(CHATGPT, path)
    dialog = import_dialog(qtbot, session, path)
    assert dialog.kind_label.text() == "A ChatGPT data export" and dialog.start_button.isEnabled()
    ok, text = run(qtbot, dialog)
    assert ok and text == "Done: 2 conversations (6 turns) imported, 2 skipped."
    skipped = dialog.details.toPlainText().splitlines()
    assert dialog.details.isVisible() and len(skipped) == 2 and "no text" in skipped[0]
    assert store.count() == 3 + 6
    assert [t.role for t in store.conversation(PORTO)] == ["user", "assistant"] * 2
    assert store.get_conversation(PORTO).title == "Planning a trip to Porto"  # type: ignore[union-attr]
    assert store.get_many([m.id for m in before]) == before  # what was there is untouched
    ok, text = run(qtbot, dialog)
    assert (
        ok and text == "Done: 0 conversations (0 turns) imported, 2 already in memory, 2 skipped."
    )
    assert store.count() == 9


def test_import_a_mneme_export_from_another_store(
    qtbot: QtBot, session: AppSession, tmp_path: Path, embedder: Embedder
) -> None:
    path = tmp_path / "mine.json"
    with MemoryStore.open(tmp_path / "elsewhere", embedder) as other:
        theirs = remember(other)
        other.edit(theirs[2].id, "The user travels to Porto in early June.")
        export_json(other, path)
    dialog = import_dialog(qtbot, session, path)
    assert dialog.kind_label.text() == "A Mneme memory export"
    ok, text = run(qtbot, dialog)
    assert ok and text == "Done: 3 memories imported with 1 earlier version; 1 new conversation."
    store = store_of(session)
    assert store.get(theirs[2].id).text == "The user travels to Porto in early June."
    assert [h.text for h in store.history(theirs[2].id)] == ["The user travels to Porto in June."]
    assert store.get_conversation("trip").title == "Porto trip"  # type: ignore[union-attr]
    ok, text = run(qtbot, dialog)
    assert ok and text == "Done: 0 memories imported; 0 new conversations; 3 already in memory."
    assert store.count() == 3


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"not": "an export"}', "is neither a ChatGPT export (conversations.json) nor a Mneme"),
        (b"\xff\xfe\x00junk", "is neither a ChatGPT export (conversations.json) nor a Mneme"),
        (b"", "is neither a ChatGPT export"),
    ],
)
def test_a_file_that_is_no_export_is_refused_before_anything_runs(
    qtbot: QtBot, session: AppSession, tmp_path: Path, content: bytes, why: str
) -> None:
    store = store_of(session)
    remember(store)
    path = tmp_path / "x.json"
    path.write_bytes(content)
    dialog = import_dialog(qtbot, session, path)
    assert dialog.kind_label.text() == "Not an export Mneme can read"
    assert dialog.status.text().startswith(f"This file cannot be imported: x.json {why}")
    assert not dialog.start_button.isEnabled()
    with qtbot.waitSignal(dialog.transferFinished) as finished:
        assert not dialog.start()
    assert finished.args == [False, dialog.status.text()] and store.count() == 3


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'[{"title": "Broken", "mapping": {"a": ', "the file ends inside an item"),
        (b'{"format": "mneme-memory-export", "version": 99}', "written by a newer Mneme"),
        (b'{"format": "mneme-memory-export", "version": 1, "memories": [', "is not valid JSON"),
    ],
)
def test_a_damaged_export_fails_clearly_and_changes_nothing(
    qtbot: QtBot, session: AppSession, tmp_path: Path, content: bytes, why: str
) -> None:
    store = store_of(session)
    remember(store)
    before = snapshot(store)
    path = tmp_path / "damaged.json"
    path.write_bytes(content)
    dialog = import_dialog(qtbot, session, path)
    assert dialog.start_button.isEnabled()  # it looks like an export until it is read
    ok, text = run(qtbot, dialog)
    assert not ok and text.startswith("This file cannot be imported: ") and why in text
    assert text.endswith("Nothing in your memory was changed.")
    assert snapshot(store) == before and len(store.conversations()) == 1


def test_a_chatgpt_export_cut_off_keeps_what_came_before_whole(
    qtbot: QtBot, session: AppSession, tmp_path: Path
) -> None:
    store = store_of(session)
    remember(store)
    before = snapshot(store)
    data = CHATGPT.read_text()
    path = tmp_path / "conversations.json"
    path.write_text(data[: data.index('"title": "Sourdough"') + 40])
    ok, text = run(qtbot, import_dialog(qtbot, session, path))
    assert not ok and "the file ends inside an item" in text
    assert "What came before it was imported whole (1 conversation, 4 turns)" in text
    assert store.get_many([m.id for m in before]) == before
    assert len(store.conversation(PORTO)) == 4 and store.count() == 3 + 4


def test_stop_keeps_whole_conversations_and_the_same_file_finishes_the_job(
    qtbot: QtBot, session: AppSession, tmp_path: Path
) -> None:
    store = store_of(session)
    path = tmp_path / "conversations.json"
    big_chatgpt_export(path, 40)
    dialog = import_dialog(qtbot, session, path)
    with qtbot.waitSignal(dialog.transferFinished, timeout=120_000) as finished:
        assert dialog.start()
        assert dialog.cancel_button.text() == "Stop" and not dialog.start_button.isEnabled()
        dialog.reject()  # closing while it runs stops it, and the dialog stays
    ok, text = finished.args
    assert not ok and text.startswith("Import stopped. ") and dialog.isVisible()
    stopped_at = len(store.conversations())
    assert stopped_at < 40 and store.count() == stopped_at  # one turn each, none half there
    ok, text = run(qtbot, dialog)
    assert ok and text.startswith(f"Done: {40 - stopped_at} conversations")
    assert len(store.conversations()) == store.count() == 40
