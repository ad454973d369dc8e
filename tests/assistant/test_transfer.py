"""Import and export through the core: stopping, failing midway, saying what was done."""

from __future__ import annotations

from pathlib import Path

import pytest

from mneme.assistant.core import Assistant
from mneme.assistant.errors import InvalidRequestError
from mneme.assistant.importers import ImportFormatError
from mneme.assistant.transfer import ImportInterruptedError
from mneme.memory import Kind
from tests.exports import big_chatgpt_export

CHATGPT = Path(__file__).parents[1] / "fixtures" / "chatgpt" / "conversations.json"


def test_a_stopped_import_keeps_whole_conversations_and_the_same_file_adds_the_rest(
    core: Assistant, tmp_path: Path
) -> None:
    path = tmp_path / "conversations.json"
    big_chatgpt_export(path, 40)
    steps: list[int] = []
    summary = core.transfer.import_file(
        path, progress=lambda done, total: steps.append(done), should_stop=lambda: len(steps) >= 3
    )
    store = core.open_memory()
    stopped_at = len(store.conversations())
    assert summary.stopped and 0 < stopped_at < 40 and store.count() == stopped_at
    assert summary.describe() == (
        f"Import stopped. What came before it was imported whole ({stopped_at} conversations, "
        f"{stopped_at} turns); importing the same file again adds the rest."
    )
    again = core.transfer.import_file(path)
    assert not again.stopped and again.describe().startswith(f"Done: {40 - stopped_at} conv")
    assert len(store.conversations()) == store.count() == 40


def test_a_file_cut_off_says_what_came_before_is_whole(core: Assistant, tmp_path: Path) -> None:
    data = CHATGPT.read_text()
    path = tmp_path / "conversations.json"
    path.write_text(data[: data.index('"title": "Sourdough"') + 40])
    with pytest.raises(ImportInterruptedError) as failed:
        core.transfer.import_file(path)
    assert "the file ends inside an item" in str(failed.value)
    assert "What came before it was imported whole (1 conversation, 4 turns)" in str(failed.value)
    assert failed.value.done.memories == 4


def test_a_file_that_is_no_export_changes_nothing(core: Assistant, tmp_path: Path) -> None:
    core.memories.add(Kind.FACT, "Kept.")
    path = tmp_path / "notes.json"
    path.write_text('{"a": 1}')
    with pytest.raises(ImportFormatError):
        core.transfer.import_file(path)
    assert core.memories.count() == 1


def test_backup_then_restore_refused_while_open_then_done(core: Assistant, tmp_path: Path) -> None:
    core.memories.add(Kind.FACT, "The user's boat is called Nausicaa.")
    info = core.transfer.backup(tmp_path / "b")
    assert info.memories == 1 and (tmp_path / "b" / "settings.json").exists()
    core.memories.add(Kind.FACT, "Added after the backup.")
    with pytest.raises(InvalidRequestError, match="open"):
        core.transfer.restore(tmp_path / "b")
    core.close()
    report = core.transfer.restore(tmp_path / "b")
    assert report.memories == 1 and report.aside is not None and report.settings_restored
    assert [m.text for m in core.memories.browse().items] == ["The user's boat is called Nausicaa."]
