"""The consolidation dialog: run now, see what each run did, undo one."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from mneme.ui.runs_dialog import RunsDialog
from mneme.ui.session import PartState

from .conftest import OpenWindow
from .test_main_window import send


def test_consolidate_now_then_undo_the_run(
    qtbot: QtBot, open_window: OpenWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = open_window()
    send(qtbot, window, "I keep bees in my garden in Ghent.")
    qtbot.waitUntil(lambda: window.session.model_state is PartState.READY)  # reply wound up
    dialog = RunsDialog(window.session, window)
    with qtbot.waitSignal(dialog.reloaded, timeout=30_000):
        dialog.show()
    window.runs_dialog = dialog
    assert dialog.isVisible() and dialog.model.rowCount() == 0
    assert not dialog.undo_button.isEnabled()
    with qtbot.waitSignal(window.session.consolidationFinished, timeout=180_000):
        dialog.consolidate_button.click()
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1)
    store = window.session.assistant.store
    assert store is not None
    summaries_before = store.count() - 2  # the two turns
    assert summaries_before >= 1
    row = dialog.model.index(0, 1)
    assert dialog.model.data(row) == "done"
    dialog.table.selectRow(0)
    assert dialog.undo_button.isEnabled()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.session.runUndone, timeout=30_000):
        dialog.undo_button.click()
    assert "Undid" in dialog.status.text()
    assert store.count() == 2  # only the turns remain
    qtbot.waitUntil(lambda: dialog.model.data(dialog.model.index(0, 1)) == "done (undone)")
    assert not dialog.undo_button.isEnabled()
