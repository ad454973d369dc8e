"""The first-run welcome: says where everything is, names the model, ends the first run once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from mneme.assistant.core import Assistant
from mneme.assistant.models import bundled_model_path
from mneme.ui.session import AppSession
from mneme.ui.welcome import WelcomeDialog, mark_first_run_done


@pytest.fixture
def session(qtbot: QtBot, home: Path) -> Iterator[AppSession]:
    """The real session, not started: the welcome must not need the model loaded."""
    s = AppSession(Assistant.from_environment())
    yield s
    s.shutdown()


def open_welcome(qtbot: QtBot, session: AppSession) -> WelcomeDialog:
    dialog = WelcomeDialog(session)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def first_run_done_on_disk(home: Path) -> bool:
    data = json.loads((home / "config" / "settings.json").read_text())
    return bool(data.get("ui", {}).get("first_run_done"))


def test_it_says_everything_stays_here_and_names_the_small_model(
    qtbot: QtBot, session: AppSession
) -> None:
    dialog = open_welcome(qtbot, session)
    privacy = dialog.privacy.text()
    assert "no account and no cloud" in privacy
    assert str(session.assistant.paths.data) in privacy
    model = dialog.model_text.text()
    assert bundled_model_path().name in model
    assert "small and fast" in model and "Models…" in model
    assert dialog.start_button.isDefault()
    with qtbot.waitSignal(session.settingsApplied, timeout=10_000):
        dialog.close()  # the close box counts as seen too


def test_start_ends_the_first_run_without_reloading_anything(
    qtbot: QtBot, session: AppSession, home: Path
) -> None:
    reloads: list[str] = []
    session.modelState.connect(lambda state, _: reloads.append(f"model {state}"))
    session.memoryState.connect(lambda state, _: reloads.append(f"memory {state}"))
    dialog = open_welcome(qtbot, session)
    assert not first_run_done_on_disk(home)
    with qtbot.waitSignal(session.settingsApplied, timeout=10_000) as applied:
        dialog.start_button.click()
    assert not dialog.isVisible()
    assert first_run_done_on_disk(home)
    assert applied.args[0].ui.first_run_done and session.settings.ui.first_run_done
    assert reloads == []  # neither the model nor the memory was reopened
    assert session.settings.model.threads == 1  # the rest of the file kept
    assert mark_first_run_done(session) is False  # already done: nothing saved again


def test_choose_another_model_asks_for_the_model_manager(
    qtbot: QtBot, session: AppSession, home: Path
) -> None:
    dialog = open_welcome(qtbot, session)
    with (
        qtbot.waitSignal(dialog.chooseModelRequested, timeout=5_000),
        qtbot.waitSignal(session.settingsApplied, timeout=10_000),
    ):
        dialog.choose_button.click()
    assert not dialog.isVisible()
    assert first_run_done_on_disk(home)


def test_closing_it_any_other_way_also_ends_the_first_run(
    qtbot: QtBot, session: AppSession, home: Path
) -> None:
    dialog = open_welcome(qtbot, session)
    with qtbot.waitSignal(session.settingsApplied, timeout=10_000):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    assert first_run_done_on_disk(home)


def test_a_chosen_model_file_is_named_instead(qtbot: QtBot, home: Path, tiny_gguf: Path) -> None:
    path = home / "config" / "settings.json"
    data = json.loads(path.read_text())
    data["model"]["path"] = str(tiny_gguf)
    path.write_text(json.dumps(data))
    session = AppSession(Assistant.from_environment())
    try:
        dialog = open_welcome(qtbot, session)
        assert str(tiny_gguf) in dialog.model_text.text()
        assert "bundled" not in dialog.model_text.text()
        with qtbot.waitSignal(session.settingsApplied, timeout=10_000):
            dialog.close()
    finally:
        session.shutdown()
