"""The memory manager, driven like a person would, on a real store (real Chroma, MiniLM).

The chat model is never loaded: the settings point at a file that does not
exist, so the model part fails at once and memory works on its own, as in
the app when the model is broken.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import QDateTime, QPoint, Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from mneme.assistant.core import Assistant
from mneme.memory import (
    ORIGIN,
    Kind,
    ListQuery,
    Memory,
    MemoryStore,
    NewEpisode,
    Origin,
    SortKey,
    State,
    TranscriptChoice,
    TurnState,
)
from mneme.memory.consolidation import Consolidator
from mneme.ui.memory_manager import MemoryManager
from mneme.ui.memory_table import PLACEHOLDER, Column, MemoryTableModel
from mneme.ui.session import AppSession, PartState
from tests.fakes import RuleModel
from tests.ui.conftest import wait_idle

T = TypeVar("T")
DAY = 86_400.0
START = 1_700_000_000.0  # 2023-11-14


@pytest.fixture
def session(qtbot: QtBot, home: Path, embedder: Any) -> Iterator[AppSession]:
    path = home / "config" / "settings.json"
    settings = json.loads(path.read_text())
    settings["model"]["path"] = str(home / "no-such-model.gguf")
    path.write_text(json.dumps(settings))
    s = AppSession(Assistant.from_environment(embedder=embedder))
    s.start()
    qtbot.waitUntil(lambda: s.memory_state is not PartState.LOADING, timeout=60_000)
    assert s.memory_state is PartState.READY
    yield s
    s.shutdown()


def open_manager(qtbot: QtBot, session: AppSession) -> MemoryManager:
    manager = MemoryManager(session)
    qtbot.addWidget(manager)
    manager.resize(1300, 760)
    manager.show()
    qtbot.waitUntil(lambda: manager.model.loaded_once, timeout=30_000)
    return manager


def store_of(session: AppSession) -> MemoryStore:
    store = session.assistant.store
    assert store is not None
    return store


def texts(manager: MemoryManager) -> list[str]:
    """The loaded rows' memory texts, in table order."""
    rows = range(manager.model.rowCount())
    return [m.text for m in (manager.model.memory_at(r) for r in rows) if m is not None]


def settle(qtbot: QtBot, manager: MemoryManager, total: int) -> None:
    """Wait until the table shows ``total`` rows, all loaded (small lists only)."""
    model = manager.model

    def ready() -> bool:
        if model.loading or model.rowCount() != total:
            return False
        return all(model.ensure_loaded(r) for r in range(0, total, model.BLOCK_SIZE))

    qtbot.waitUntil(ready, timeout=30_000)


def say(store: MemoryStore, conversation: str, lines: list[str], at: float = START) -> list[Memory]:
    roles = ["user", "assistant"]
    return store.add_episodes(
        [
            NewEpisode(text, roles[i % 2], conversation, said_at=at + 60 * i)
            for i, text in enumerate(lines)
        ]
    )


def consolidated(store: MemoryStore) -> tuple[list[Memory], str]:
    """A conversation about a cat, consolidated with the rule model: turns, and the run."""
    turns = say(store, "c", ["I have a cat named Miso.", "Lovely!"])
    store.set_conversation_title("c", "About my cat")
    report = Consolidator(store, RuleModel()).run(everything=True)
    assert report.status == "done" and report.added
    return turns, report.run_id


def model_fact(store: MemoryStore) -> Memory:
    """The fact the rule model wrote (beside the person's own statement)."""
    facts = store.browse(ListQuery(kinds=(Kind.FACT,))).items
    (fact,) = [f for f in facts if f.extra.get(ORIGIN) == Origin.MODEL]
    return fact


def select(qtbot: QtBot, manager: MemoryManager, memory_id: str) -> None:
    qtbot.waitUntil(lambda: manager.model.row_of(memory_id) is not None, timeout=30_000)
    manager.select_memory(memory_id)
    qtbot.waitUntil(
        lambda: manager.detail.memory is not None and manager.detail.memory.id == memory_id,
        timeout=30_000,
    )


def loaded(model: MemoryTableModel, row: int) -> bool:
    return model.memory_at(row) is not None


def opened(qtbot: QtBot, get: Callable[[], T | None]) -> T:
    """Wait for a dialog the manager opens, and return it."""
    qtbot.waitUntil(lambda: get() is not None, timeout=10_000)
    found = get()
    assert found is not None
    return found


def yes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)


# -- paging ---------------------------------------------------------------------------------


def test_rows_load_lazily_in_blocks_on_worker_threads(
    qtbot: QtBot, session: AppSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_of(session)
    threads: list[bool] = []
    browse = store.browse

    def recording_browse(query: ListQuery = ListQuery()) -> Any:  # noqa: B008
        threads.append(threading.current_thread() is threading.main_thread())
        return browse(query)

    monkeypatch.setattr(store, "browse", recording_browse)
    manager = open_manager(qtbot, session)
    for batch in range(3):
        store.add_episodes(
            [
                NewEpisode(f"turn {i} of the long talk", "user", "bulk", said_at=START + i)
                for i in range(batch * 500, batch * 500 + 500)
            ]
        )
    model = manager.model
    qtbot.waitUntil(lambda: model.rowCount() == 1500, timeout=60_000)
    assert manager.count.text() == "1,500 memories"
    # the newest first; the rows far below are not read until shown
    qtbot.waitUntil(lambda: model.memory_at(0) is not None, timeout=30_000)
    assert model.data(model.index(0, Column.TEXT)) == "You: turn 1499 of the long talk"
    assert model.memory_at(1499) is None
    assert model.data(model.index(1499, Column.KIND)) == ""
    assert 7 not in model.loaded_blocks  # (asked for by the call above, not yet arrived)

    manager.table.scrollToBottom()
    qtbot.waitUntil(lambda: model.memory_at(1499) is not None, timeout=30_000)
    last = model.memory_at(1499)
    assert last is not None and last.text == "turn 0 of the long talk"
    assert model.data(model.index(1499, Column.TEXT)) == "You: turn 0 of the long talk"
    assert 3 not in model.loaded_blocks  # the middle was never shown, never read
    assert threads and not any(threads)  # the store was only read by workers

    # a range selection over rows never read still acts on every row, in order
    manager.table.selectAll()
    chosen: list[list[Memory]] = []
    manager.with_targets(chosen.append)
    qtbot.waitUntil(lambda: bool(chosen), timeout=30_000)
    assert [m.text for m in chosen[0][:2]] == [
        "turn 1499 of the long talk",
        "turn 1498 of the long talk",
    ]
    assert len(chosen[0]) == 1500 and len({m.id for m in chosen[0]}) == 1500


def test_the_block_cache_is_bounded_and_late_answers_are_dropped(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    store.add_episodes(
        [NewEpisode(f"line {i}", "user", "c", said_at=START + i) for i in range(1000)]
    )
    manager = open_manager(qtbot, session)
    model = manager.model
    model.MAX_BLOCKS = 2
    for row in (0, 250, 450, 650, 850):
        model.ensure_loaded(row)
        qtbot.waitUntil(partial(loaded, model, row), timeout=30_000)
    # the last block read, and the one on screen (kept because the view keeps showing it)
    assert model.loaded_blocks == [0, 4]
    assert model.memory_at(250) is None  # evicted; read again when shown
    assert model.data(model.index(250, Column.TEXT)) == PLACEHOLDER
    qtbot.waitUntil(lambda: model.memory_at(250) is not None, timeout=30_000)
    assert len(model.loaded_blocks) == 2

    # two queries in a row: only the second one's rows are ever shown
    ascending = ListQuery(sort=SortKey.SAID_AT, descending=False)
    model.set_query(ListQuery(kinds=(Kind.FACT,)))
    model.set_query(ascending)
    qtbot.waitUntil(lambda: model.query.descending is False and model.rowCount() == 1000)
    wait_idle(qtbot, session)  # the first query's answer has arrived and must be ignored
    assert model.rowCount() == 1000
    qtbot.waitUntil(lambda: model.memory_at(0) is not None, timeout=30_000)
    first = model.memory_at(0)
    assert first is not None and first.text == "line 0"


def test_the_selection_follows_its_memory_when_rows_move(qtbot: QtBot, session: AppSession) -> None:
    store = store_of(session)
    turns = say(store, "c", ["first", "second", "third"])
    manager = open_manager(qtbot, session)
    settle(qtbot, manager, 3)
    select(qtbot, manager, turns[1].id)
    assert manager.table.selected_rows() == [1]
    say(store, "d", ["newer one", "newer two"], at=START + DAY)
    settle(qtbot, manager, 5)
    # two newer rows came above it: the selection moved down with its memory
    assert manager.table.selected_rows() == [3]
    current = manager.model.memory_at(manager.table.currentIndex().row())
    assert current is not None and current.id == turns[1].id
    store.forget([turns[0].id])
    settle(qtbot, manager, 4)
    assert manager.table.selected_rows() == [3]
    assert manager.model.data(manager.model.index(3, Column.TEXT)) == "Mneme: second"


# -- filters, sort, search ----------------------------------------------------------------------


def test_filters_and_sort_change_the_rows(qtbot: QtBot, session: AppSession) -> None:
    store = store_of(session)
    old = say(store, "a", ["An old turn.", "An old answer."], at=START)
    say(store, "b", ["A recent turn.", "A recent answer."], at=START + 30 * DAY)
    store.set_conversation_title("b", "Recent talk")
    fact = store.add_memory(Kind.FACT, "I like green tea.", said_at=START + 10 * DAY, pinned=True)
    store.update(old[1].id, state=State.ARCHIVED)
    manager = open_manager(qtbot, session)
    settle(qtbot, manager, 5)
    filters = manager.filters

    filters.set_kind(Kind.FACT)
    settle(qtbot, manager, 1)
    assert texts(manager) == ["I like green tea."]
    filters.set_kind(None)
    settle(qtbot, manager, 5)

    filters.set_state(State.ARCHIVED)
    settle(qtbot, manager, 1)
    assert texts(manager) == ["An old answer."]
    filters.set_state(None)

    filters.pinned.setChecked(True)
    settle(qtbot, manager, 1)
    assert manager.model.memory_at(0) == store.get(fact.id)
    assert manager.model.data(manager.model.index(0, Column.PINNED)) == "★"
    filters.pinned.setChecked(False)

    qtbot.waitUntil(lambda: filters.conversation.findData("b") > 0, timeout=30_000)
    assert filters.conversation.itemText(filters.conversation.findData("b")) == "Recent talk"
    filters.set_conversation("b")
    settle(qtbot, manager, 2)
    assert set(texts(manager)) == {"A recent turn.", "A recent answer."}
    assert manager.model.data(manager.model.index(0, Column.CONVERSATION)) == "Recent talk"
    filters.set_conversation(None)

    day = QDateTime.fromSecsSinceEpoch(int(START + 10 * DAY)).date()
    filters.set_date_range(day.addDays(-1), day.addDays(1))
    settle(qtbot, manager, 1)
    assert texts(manager) == ["I like green tea."]
    filters.clear()
    settle(qtbot, manager, 5)

    # newest first by default; a click on "Said" sorts oldest first
    assert texts(manager)[0] == "A recent answer."
    header = manager.table.horizontalHeader()

    def click(column: Column) -> None:
        x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
        qtbot.mouseClick(  # type: ignore[no-untyped-call]
            header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5)
        )

    click(Column.SAID)
    qtbot.waitUntil(lambda: manager.model.query.descending is False, timeout=10_000)
    settle(qtbot, manager, 5)
    assert texts(manager)[0] == "An old turn."
    assert header.sortIndicatorSection() == Column.SAID
    click(Column.IMPORTANCE)
    qtbot.waitUntil(lambda: manager.model.query.sort is SortKey.IMPORTANCE, timeout=10_000)
    # the text column cannot be sorted by the store: nothing changes
    query = manager.model.query
    click(Column.TEXT)
    wait_idle(qtbot, session)
    assert manager.model.query == query
    assert header.sortIndicatorSection() == Column.IMPORTANCE


def test_search_finds_a_memory_by_meaning_and_an_empty_box_browses_again(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    say(
        store,
        "c",
        [
            "My sister Ana lives in Lisbon.",
            "I bought a new bicycle last week.",
            "The cat sleeps on the sofa all day.",
        ],
    )
    manager = open_manager(qtbot, session)
    settle(qtbot, manager, 3)
    assert manager.table.isColumnHidden(Column.SCORE)
    searches: list[int] = []
    manager.searchFinished.connect(searches.append)
    with qtbot.waitSignal(manager.searchFinished, timeout=30_000):
        qtbot.keyClicks(  # type: ignore[no-untyped-call]
            manager.search, "Which relative lives in Portugal?"
        )
    qtbot.waitUntil(lambda: not manager._search_timer.isActive())  # no search left to start
    wait_idle(qtbot, session)
    assert len(searches) == 1  # typing was debounced into one search
    assert manager.model.searching
    top = manager.model.memory_at(0)
    assert top is not None and top.text == "My sister Ana lives in Lisbon."
    assert not manager.table.isColumnHidden(Column.SCORE)
    top_hit = manager.model.hit_at(0)
    assert top_hit is not None and top_hit.score > 0
    assert manager.model.data(manager.model.index(0, Column.SCORE)) == "similar meaning"
    assert "found for" in manager.count.text()

    manager.search.clear()
    qtbot.waitUntil(lambda: not manager.model.searching, timeout=10_000)
    settle(qtbot, manager, 3)
    assert manager.table.isColumnHidden(Column.SCORE)
    assert manager.count.text() == "3 memories"


# -- editing, pinning, adding ---------------------------------------------------------------------


def test_edit_keeps_history_and_a_version_can_be_restored(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    fact = store.add_memory(Kind.FACT, "I live in Porto.")
    manager = open_manager(qtbot, session)
    select(qtbot, manager, fact.id)
    assert manager.edit_button.isEnabled()
    manager.edit_button.click()
    dialog = opened(qtbot, lambda: manager.edit_dialog)
    qtbot.waitUntil(lambda: dialog.details is not None, timeout=30_000)
    assert dialog.text.toPlainText() == "I live in Porto." and dialog.history.count() == 0

    # an error keeps the dialog open with what was typed
    dialog.text.setPlainText("   ")
    dialog.save()
    qtbot.waitUntil(lambda: bool(dialog.error.text()), timeout=30_000)
    assert "cannot be empty" in dialog.error.text()
    assert dialog.isVisible() and dialog.text.toPlainText() == "   "
    assert store.get(fact.id).version == 1

    dialog.text.setPlainText("I live in Lisbon.")
    dialog.importance.setValue(0.9)
    with qtbot.waitSignal(dialog.saved, timeout=30_000):
        dialog.save_button.click()
    assert not dialog.isVisible()
    saved = store.get(fact.id)
    assert (saved.text, saved.version, saved.importance) == ("I live in Lisbon.", 2, 0.9)
    qtbot.waitUntil(lambda: "Lisbon" in manager.detail.text.toPlainText(), timeout=30_000)
    qtbot.waitUntil(lambda: manager.detail.history.count() == 1, timeout=30_000)

    dialog = manager.edit_memory(fact.id)
    qtbot.waitUntil(lambda: dialog.history.count() == 1, timeout=30_000)
    dialog.history.setCurrentRow(0)
    assert dialog.restore_button.isEnabled()
    with qtbot.waitSignal(dialog.loaded, timeout=30_000):
        dialog.restore_button.click()
    assert dialog.text.toPlainText() == "I live in Porto."
    assert "Version 1 is current again" in dialog.status.text()
    restored = store.get(fact.id)
    assert (restored.text, restored.version) == ("I live in Porto.", 3)
    assert [m.text for m in store.history(fact.id)] == ["I live in Porto.", "I live in Lisbon."]


def test_the_detail_pane_restores_a_version_too(qtbot: QtBot, session: AppSession) -> None:
    store = store_of(session)
    fact = store.add_memory(Kind.FACT, "My bike is red.")
    store.edit(fact.id, "My bike is blue.")
    manager = open_manager(qtbot, session)
    select(qtbot, manager, fact.id)
    pane = manager.detail
    qtbot.waitUntil(lambda: pane.history.count() == 1, timeout=30_000)
    assert pane.tabs.tabText(2) == "Earlier versions (1)"
    pane.history.setCurrentRow(0)
    pane.restore_button.click()
    qtbot.waitUntil(lambda: store.get(fact.id).text == "My bike is red.", timeout=30_000)
    qtbot.waitUntil(lambda: pane.text.toPlainText() == "My bike is red.", timeout=30_000)
    assert "Version 1 is current again" in pane.status.text()


def test_pin_and_unpin_the_selection(qtbot: QtBot, session: AppSession) -> None:
    store = store_of(session)
    turns = say(store, "c", ["one", "two", "three"])
    manager = open_manager(qtbot, session)
    settle(qtbot, manager, 3)
    manager.table.selectRow(0)
    manager.table.selectionModel().select(
        manager.model.index(1, 0),
        manager.table.selectionModel().SelectionFlag.Select
        | manager.table.selectionModel().SelectionFlag.Rows,
    )
    assert manager.table.selected_rows() == [0, 1]
    assert manager.pin_button.text() == "Pin"
    manager.pin_button.click()
    newest = {turns[2].id, turns[1].id}
    qtbot.waitUntil(lambda: all(store.get(i).pinned for i in newest), timeout=30_000)
    assert not store.get(turns[0].id).pinned
    qtbot.waitUntil(lambda: manager.pin_button.text() == "Unpin", timeout=30_000)
    assert manager.table.selected_rows() == [0, 1]  # kept through the refresh
    assert "Pinned 2 memories" in manager.status.text()
    manager.pin_button.click()
    qtbot.waitUntil(lambda: not any(store.get(i).pinned for i in newest), timeout=30_000)
    qtbot.waitUntil(lambda: manager.pin_button.text() == "Pin", timeout=30_000)


def test_add_a_note_by_hand(qtbot: QtBot, session: AppSession) -> None:
    store = store_of(session)
    manager = open_manager(qtbot, session)
    dialog = manager.add_memory()
    dialog.save()
    assert "Write what" in dialog.error.text() and dialog.isVisible()
    dialog.text.setPlainText("Call the plumber about the kitchen sink.")
    dialog.set_kind(Kind.SUMMARY)
    dialog.pinned.setChecked(True)
    with qtbot.waitSignal(dialog.added, timeout=30_000) as added:
        dialog.save_button.click()
    memory = store.get(added.args[0].id)
    assert (memory.kind, memory.scope, memory.pinned) == (Kind.SUMMARY, "note", True)
    settle(qtbot, manager, 1)
    assert manager.model.data(manager.model.index(0, Column.KIND)) == "note"


# -- forgetting ---------------------------------------------------------------------------------


def test_delete_shows_the_cascade_first_and_then_forgets(
    qtbot: QtBot, session: AppSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_of(session)
    turns, _ = consolidated(store)
    summaries = store.browse(ListQuery(kinds=(Kind.SUMMARY,))).items
    fact = model_fact(store)
    assert summaries and fact.sources == (turns[0].id,)
    manager = open_manager(qtbot, session)
    select(qtbot, manager, turns[0].id)

    manager.delete_button.click()
    dialog = opened(qtbot, lambda: manager.forget_dialog)
    qtbot.waitUntil(lambda: dialog.deleted_list.count() > 0, timeout=30_000)
    lines = [dialog.deleted_list.item(i).text() for i in range(dialog.deleted_list.count())]
    assert any(line.startswith("You said on ") and "named Miso." in line for line in lines)
    assert any(line.startswith("Fact (") and fact.text in line for line in lines)
    assert any(line.startswith("Summary (") for line in lines)
    summary = dialog.summary.text()
    # the model's fact and the person's own statement
    assert "1 thing said in conversations and 2 facts learnt only from them" in summary
    assert "that used them" in summary and "written again without them" in summary
    assert dialog.forget_button.isEnabled()
    # what becomes of the conversation is said, and chosen (the words kept by default)
    assert dialog.conversations_box.isVisibleTo(dialog)
    assert "said in 1 conversation" in dialog.conversations_label.text()
    assert dialog.choice is TranscriptChoice.KEEP_WORDS

    dialog.reject()  # cancelling forgets nothing
    wait_idle(qtbot, session)
    assert store.get(turns[0].id) and store.get(fact.id)

    first = dialog
    manager.delete_button.click()
    dialog = opened(
        qtbot, lambda: None if manager.forget_dialog is first else manager.forget_dialog
    )
    qtbot.waitUntil(lambda: dialog.forget_button.isEnabled(), timeout=30_000)
    with qtbot.waitSignal(dialog.forgotten, timeout=30_000):
        dialog.forget_button.click()
    remaining = {m.id for m in store.browse(ListQuery(limit=1000)).items}
    assert turns[0].id not in remaining and fact.id not in remaining
    assert not remaining & {s.id for s in summaries}
    assert remaining == {turns[1].id}
    assert manager.undo_bar.isVisibleTo(manager)
    assert manager.undo_bar.label.text().startswith("Forgot ")
    assert "will be written again" in manager.undo_bar.label.text()
    settle(qtbot, manager, 1)
    # the conversation still shows what was said, marked as no longer remembered
    said = store.transcript(turns[0].conversation_id or "")
    assert (said[0].text, said[0].state) == (turns[0].text, TurnState.NOT_REMEMBERED)


def test_forget_everything_about_a_topic(qtbot: QtBot, session: AppSession) -> None:
    store = store_of(session)
    bees = say(
        store,
        "c",
        [
            "I keep bees in my garden in Ghent.",
            "The hive gave twelve jars of honey this summer.",
            "A wasp stung me near the beehive.",
        ],
    )
    others = say(
        store,
        "d",
        ["My sister Ana lives in Lisbon.", "I am learning to play the cello."],
        at=START + DAY,
    )
    manager = open_manager(qtbot, session)
    dialog = manager.forget_topic()
    assert not dialog.review_button.isEnabled()
    dialog.topic.setText("bees")
    with qtbot.waitSignal(dialog.searched, timeout=30_000) as searched:
        dialog.find_button.click()
    assert searched.args == [3]
    assert set(dialog.checked_ids()) == {m.id for m in bees}  # all checked, nothing else
    assert dialog.review_button.text() == "Forget 3 checked…"
    keep = next(
        dialog.matches.item(i)
        for i in range(dialog.matches.count())
        if "wasp" in dialog.matches.item(i).text()
    )
    keep.setCheckState(Qt.CheckState.Unchecked)
    assert dialog.review_button.text() == "Forget 2 checked…"
    dialog.review_button.click()
    confirm = dialog.confirm
    assert confirm is not None
    qtbot.waitUntil(lambda: confirm.forget_button.isEnabled(), timeout=30_000)
    assert confirm.deleted_list.count() == 2
    with qtbot.waitSignal(dialog.forgotten, timeout=30_000):
        confirm.forget_button.click()
    remaining = {m.text for m in store.browse(ListQuery(limit=100)).items}
    assert remaining == {"A wasp stung me near the beehive.", *(m.text for m in others)}
    assert not dialog.isVisible()
    assert manager.undo_bar.label.text() == "Forgot 2 memories."


# -- the detail pane ------------------------------------------------------------------------


def test_the_detail_pane_shows_provenance_derived_and_the_runs(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    turns, run_id = consolidated(store)
    fact = model_fact(store)
    manager = open_manager(qtbot, session)
    pane = manager.detail
    select(qtbot, manager, fact.id)
    qtbot.waitUntil(lambda: pane.sources.count() == 1 and pane.runs.count() == 1)
    assert "I have a cat named Miso." in pane.sources.item(0).text()
    assert pane.text.toPlainText() == fact.text
    assert "“About my cat”" in pane.facts.text()
    assert "Mneme wrote it" in pane.runs.item(0).text()
    assert (
        pane.tabs.tabText(0) == "Comes from (1)" and pane.tabs.tabText(3) == "Changes by Mneme (1)"
    )
    # a fact opens its conversation at the turn it came from
    assert pane.open_button.isEnabled()
    with qtbot.waitSignal(manager.openConversation) as opened:
        pane.open_button.click()
    assert opened.args == ["c", turns[0].id]

    # its source: the turn, from which the fact and summaries were derived
    pane.sources.itemClicked.emit(pane.sources.item(0))
    qtbot.waitUntil(lambda: pane.memory is not None and pane.memory.id == turns[0].id)
    assert manager.table.selected_rows() == [manager.model.row_of(turns[0].id)]
    qtbot.waitUntil(lambda: pane.derived.count() >= 2)
    derived = [pane.derived.item(i).text() for i in range(pane.derived.count())]
    assert any(fact.text in line for line in derived)
    assert any(line.startswith("Summary (") for line in derived)
    assert "in the conversation “About my cat”" in pane.facts.text()
    assert pane.runs.count() == 1 and "read" in pane.runs.item(0).text()
    with qtbot.waitSignal(manager.openConversation) as opened:
        pane.open_button.click()
    assert opened.args == ["c", turns[0].id]

    # history appears when the memory is edited elsewhere
    select(qtbot, manager, fact.id)
    store.edit(fact.id, "User has a cat called Miso.")
    qtbot.waitUntil(lambda: pane.history.count() == 1, timeout=30_000)
    assert fact.text in pane.history.item(0).text()
    assert pane.text.toPlainText() == "User has a cat called Miso."
    assert store.jobs.runs_touching(fact.id)[0][0].id == run_id


def test_undo_a_consolidation_run_from_the_detail_pane(
    qtbot: QtBot, session: AppSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_of(session)
    turns, run_id = consolidated(store)
    fact = model_fact(store)
    manager = open_manager(qtbot, session)
    pane = manager.detail
    select(qtbot, manager, fact.id)
    qtbot.waitUntil(lambda: pane.runs.count() == 1, timeout=30_000)
    assert not pane.undo_button.isEnabled()
    pane.runs.setCurrentRow(0)
    assert pane.undo_button.isEnabled()

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    pane.undo_button.click()
    wait_idle(qtbot, session)
    assert store.get(fact.id)

    yes(monkeypatch)
    with qtbot.waitSignal(session.runUndone, timeout=30_000):
        pane.undo_button.click()
    assert "Undid" in pane.status.text()
    run = store.jobs.run(run_id)
    assert run is not None and run.undone
    assert {m.id for m in store.browse(ListQuery(limit=100)).items} == {t.id for t in turns}
    settle(qtbot, manager, 2)
    qtbot.waitUntil(lambda: pane.heading.text() == "This memory was deleted.", timeout=30_000)


def test_a_hidden_manager_reads_nothing_until_shown_again(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    say(store, "c", ["one"])
    manager = open_manager(qtbot, session)
    settle(qtbot, manager, 1)
    manager.hide()
    say(store, "c", ["two", "three"], at=START + DAY)
    with qtbot.waitSignal(session.memoriesChanged, timeout=10_000):
        pass
    wait_idle(qtbot, session)
    assert manager.model.rowCount() == 1 and not manager.model.loading
    manager.show()
    settle(qtbot, manager, 3)
    assert texts(manager)[0] == "three"


def test_forgetting_can_remove_the_turn_from_its_conversation_and_be_taken_back(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    turns = say(store, "c", ["My locker code is 4411.", "Noted."])
    manager = open_manager(qtbot, session)
    settle(qtbot, manager, 2)
    dialog = manager.forget([turns[0].id])
    qtbot.waitUntil(lambda: dialog.forget_button.isEnabled(), timeout=30_000)
    dialog.choices[TranscriptChoice.REMOVE_TURN].setChecked(True)
    with qtbot.waitSignal(dialog.forgotten, timeout=30_000):
        dialog.forget_button.click()
    assert store.get_many([turns[0].id]) == []  # memory
    assert [t.text for t in store.transcript("c")] == ["Noted."]  # conversation
    assert manager.undo_bar.label.text() == "Forgot 1 memory."
    with qtbot.waitSignal(session.undone, timeout=30_000):
        manager.undo_bar.button.click()
    assert store.get(turns[0].id).text == "My locker code is 4411."
    assert [t.text for t in store.transcript("c")] == ["My locker code is 4411.", "Noted."]
    settle(qtbot, manager, 2)


def test_a_search_finds_what_it_is_about_not_every_memory(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    say(store, "c", ["My dog Biscuit loves long walks.", "Lovely.", "I repaint the fence."])
    manager = open_manager(qtbot, session)
    settle(qtbot, manager, 3)
    with qtbot.waitSignal(manager.searchFinished, timeout=30_000) as found:
        manager.search.setText("pet")
        manager.run_search()
    assert found.args == [1] and texts(manager) == ["My dog Biscuit loves long walks."]
    assert manager.count.text() == "1 found for “pet”"


def test_clear_filters_clears_the_search_too(qtbot: QtBot, session: AppSession) -> None:
    store = store_of(session)
    say(store, "c", ["My dog Biscuit loves long walks.", "Lovely.", "I repaint the fence."])
    manager = open_manager(qtbot, session)
    settle(qtbot, manager, 3)
    with qtbot.waitSignal(manager.searchFinished, timeout=30_000):
        manager.search.setText("pet")
        manager.run_search()
    manager.filters.pinned.setChecked(True)
    qtbot.waitUntil(lambda: manager.model.rowCount() == 0, timeout=30_000)
    manager.filters.clear_button.click()
    assert manager.search.text() == "" and not manager.filters.pinned.isChecked()
    settle(qtbot, manager, 3)
    assert manager.count.text() == "3 memories"


def test_a_memory_far_down_the_list_is_selected_when_asked_for(
    qtbot: QtBot, session: AppSession
) -> None:
    """What a click on a recalled memory does: its row is found and read, even when it
    is far below the rows read so far (it used to say it was not listed)."""
    store = store_of(session)
    saved = store.add_episodes(
        [
            NewEpisode(f"turn {i} of the long talk", "user", "bulk", said_at=START + i)
            for i in range(1200)
        ]
    )
    manager = open_manager(qtbot, session)
    qtbot.waitUntil(lambda: manager.model.rowCount() == 1200, timeout=60_000)
    wanted = saved[5]  # the newest first: row 1194, in a block not yet read
    assert manager.model.row_of(wanted.id) is None
    manager.select_memory(wanted.id)
    qtbot.waitUntil(lambda: manager.table.selected_rows() == [1194], timeout=30_000)
    assert manager.model.memory_at(1194) == wanted
    assert manager.detail.memory_id == wanted.id
    assert "not among" not in manager.status.text() and "hide" not in manager.status.text()


def test_what_the_model_wrote_is_reviewed_and_forgotten_in_one_step(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    turns, _ = consolidated(store)
    statement = next(
        m for m in store.browse(ListQuery(kinds=(Kind.FACT,))).items if m.text == turns[0].text
    )
    manager = open_manager(qtbot, session)
    manager.filters.by_model.setChecked(True)
    settle(qtbot, manager, 2)  # the model's fact and its summary; not the person's words
    manager.table.selectAll()
    qtbot.waitUntil(lambda: len(manager.selected_memories()) == 2)
    assert {m.kind for m in manager.selected_memories()} == {Kind.FACT, Kind.SUMMARY}
    manager.delete_button.click()
    dialog = opened(qtbot, lambda: manager.forget_dialog)
    qtbot.waitUntil(lambda: dialog.forget_button.isEnabled(), timeout=30_000)
    with qtbot.waitSignal(dialog.forgotten, timeout=30_000):
        dialog.forget_button.click()
    settle(qtbot, manager, 0)
    left = {m.id for m in store.browse(ListQuery(limit=100)).items}
    assert left == {turns[0].id, turns[1].id, statement.id}  # what was said, and said of oneself
    with qtbot.waitSignal(session.undone, timeout=30_000):
        manager.undo_bar.button.click()
    settle(qtbot, manager, 2)
