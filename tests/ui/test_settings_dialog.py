"""The settings dialog: generated from the schema, refuses bad values by name, applies good ones,
keeps keys in the keyring and out of the settings file."""

from __future__ import annotations

import json
import stat
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QSpinBox,
)
from pytestqt.qtbot import QtBot

from mneme.assistant.core import Assistant
from mneme.assistant.secrets import CHROMA_SERVER_TOKEN, MODEL_SERVER_KEY
from mneme.assistant.settings import Settings, updated
from mneme.ui.session import AppSession
from mneme.ui.settings_dialog import SettingsDialog
from mneme.ui.settings_fields import NumberEditor, lookup
from tests.conftest import MemoryKeyring

HIDDEN = {"version", "ui.first_run_done"}


@pytest.fixture(autouse=True)
def _test_keyring(request: pytest.FixtureRequest) -> None:
    """Never the machine's keyring: an in-memory one unless the test asks for none."""
    if "no_keyring" not in request.fixturenames:
        request.getfixturevalue("memory_keyring")


@pytest.fixture(autouse=True)
def _no_unexpected_questions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A modal question nobody answers would hang the run; fail instead."""

    def unexpected(parent: object, title: str, text: str, *a: object) -> Any:
        raise AssertionError(f"unexpected question: {text}")

    monkeypatch.setattr(QMessageBox, "question", unexpected)


@pytest.fixture
def session(qtbot: QtBot, home: Path) -> Iterator[AppSession]:
    """The real session on a fresh home; nothing is loaded (the dialog needs no model)."""
    s = AppSession(Assistant.from_environment())
    yield s
    s.shutdown()


def open_dialog(qtbot: QtBot, session: AppSession, **kwargs: Any) -> SettingsDialog:
    dialog = SettingsDialog(session, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.secrets_panel.status is not None)
    return dialog


def settings_file(home: Path) -> Path:
    return home / "config" / "settings.json"


def saved(home: Path) -> dict[str, Any]:
    return dict(json.loads(settings_file(home).read_text()))


def leaves(schema: type[BaseModel] = Settings, prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    for name, info in schema.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from leaves(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info


def expected_widget(info: FieldInfo) -> type | tuple[type, ...]:
    annotation = info.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is Literal:
        return QComboBox
    table: dict[Any, type | tuple[type, ...]] = {
        bool: QCheckBox,
        int: QSpinBox,
        float: QDoubleSpinBox,
        str: (QLineEdit, QPlainTextEdit),
    }
    return table[annotation]


def test_every_schema_field_has_an_editor_showing_its_value(
    qtbot: QtBot, session: AppSession
) -> None:
    dialog = open_dialog(qtbot, session)
    settings = session.settings
    for dotted, info in leaves():
        if dotted in HIDDEN:
            assert dotted not in dialog.editors
            continue
        assert dotted in dialog.editors, f"{dotted} has no editor in the settings dialog"
        editor = dialog.editors[dotted]
        assert isinstance(editor.input, expected_widget(info)), dotted
        assert editor.value() == lookup(settings, dotted), dotted
        assert editor.input.toolTip() == (info.description or ""), dotted
        tab = dialog.tabs.widget(dialog.tab_of[dotted])
        assert tab is not None and tab.isAncestorOf(editor), dotted
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert titles == [
        "Everyday",
        "Model",
        "Replies",
        "Model server",
        "Memory",
        "Chat",
        "Keys",
        "Data folder",
    ]
    # the everyday choices first; the rest only when asked for
    shown = [t for i, t in enumerate(titles) if dialog.tabs.isTabVisible(i)]
    assert shown == ["Everyday", "Data folder"] and not dialog.advanced.isChecked()
    everyday = dialog.tabs.widget(0)
    for dotted in ("ui.theme", "memory.enabled", "memory.episode_retention_days"):
        assert everyday.isAncestorOf(dialog.editors[dotted]), dotted
    dialog.advanced.setChecked(True)
    assert all(dialog.tabs.isTabVisible(i) for i in range(dialog.tabs.count()))
    assert isinstance(dialog.editors["chat.system_prompt"].input, QPlainTextEdit)
    assert dialog.editors["model.threads"].value() == 1  # from the file, not the default


def test_numbers_cannot_be_set_beyond_their_limits(qtbot: QtBot, session: AppSession) -> None:
    dialog = open_dialog(qtbot, session)
    # optional numbers: a tick box said positively turns them on; unticked means None
    seed = dialog.editors["model.seed"]
    assert isinstance(seed, NumberEditor) and seed.switch is not None
    assert seed.switch.text() == "Use the fixed seed"
    assert seed.switch.isChecked() and seed.value() == 7
    seed.switch.setChecked(False)
    assert seed.value() is None and not seed.spin.isEnabled()
    retention = dialog.editors["memory.episode_retention_days"]
    assert isinstance(retention, NumberEditor) and retention.switch is not None
    assert not retention.switch.isChecked() and retention.value() is None
    assert not retention.spin.isEnabled()
    numbers = {d: e for d, e in dialog.editors.items() if isinstance(e, NumberEditor)}
    assert len(numbers) >= 15
    for dotted, editor in numbers.items():
        spin = editor.spin
        info = dict(leaves())[dotted]
        limits = {type(m).__name__: m for m in info.metadata}
        if "Le" in limits:
            assert spin.maximum() == limits["Le"].le, dotted
        if "Ge" in limits:
            assert spin.minimum() == limits["Ge"].ge, dotted
        if "Gt" in limits:
            assert spin.minimum() > limits["Gt"].gt, dotted
        if isinstance(spin, QSpinBox):
            top = 2**31 - 1  # the most a QSpinBox can be given
            spin.setValue(min(spin.maximum() + 1000, top))
            assert spin.value() == spin.maximum(), dotted
            spin.setValue(max(spin.minimum() - 1000, -top))
        else:
            spin.setValue(spin.maximum() + 1000)
            assert spin.value() == spin.maximum(), dotted
            spin.setValue(spin.minimum() - 1000)
        assert spin.value() == spin.minimum(), dotted
    # typed by hand: 99 points is over the 40 allowed
    font = dialog.editors["ui.font_size"]
    assert isinstance(font, NumberEditor)
    font.spin.lineEdit().selectAll()
    qtbot.keyClicks(font.spin, "99")
    typed = font.value()
    assert typed is not None and typed <= 40


def test_a_refused_value_is_named_and_nothing_typed_is_lost(
    qtbot: QtBot, session: AppSession, home: Path
) -> None:
    before = settings_file(home).read_bytes()
    dialog = open_dialog(qtbot, session)
    url = dialog.editors["server.url"]
    temperature = dialog.editors["generation.temperature"]
    dialog.editors["chat.history_turns"].set_value(33)
    temperature.set_value(1.3)
    dialog.tabs.setCurrentIndex(0)
    assert isinstance(url.input, QLineEdit)
    url.input.setText("not a url")

    dialog.ok_button.click()

    error = dialog.errors["server.url"]
    assert dialog.isVisible()
    assert not error.isHidden() and "pattern" in error.text()
    assert dialog.tabs.currentIndex() == dialog.tab_of["server.url"]
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Model server"
    assert "URL" in dialog.status.text()
    assert url.input.text() == "not a url"
    assert temperature.value() == pytest.approx(1.3)
    assert dialog.editors["chat.history_turns"].value() == 33
    assert settings_file(home).read_bytes() == before  # nothing half-applied
    assert dialog.ok_button.isEnabled()

    url.input.setText("http://127.0.0.1:9999/v1")  # corrected: the message goes
    with qtbot.waitSignal(session.settingsApplied, timeout=10_000):
        dialog.ok_button.click()
    assert error.isHidden()
    assert saved(home)["server"]["url"] == "http://127.0.0.1:9999/v1"
    assert saved(home)["chat"]["history_turns"] == 33


def test_a_valid_change_is_saved_and_announced(
    qtbot: QtBot, session: AppSession, home: Path
) -> None:
    dialog = open_dialog(qtbot, session)
    dialog.editors["generation.temperature"].set_value(1.2)
    dialog.editors["ui.font_size"].set_value(14)
    dialog.editors["ui.theme"].set_value("dark")
    dialog.editors["chat.system_prompt"].set_value("Be brief.")
    dialog.editors["memory.idle_minutes"].set_value(2.5)
    with qtbot.waitSignal(session.settingsApplied, timeout=10_000) as applied:
        dialog.ok_button.click()
    new = applied.args[0] if applied.args else None
    assert isinstance(new, Settings) and new.ui.font_size == 14
    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible()
    data = saved(home)
    assert data["generation"]["temperature"] == pytest.approx(1.2)
    assert data["ui"] == {"theme": "dark", "font_size": 14, "first_run_done": False}
    assert data["chat"]["system_prompt"] == "Be brief."
    assert data["memory"]["idle_minutes"] == 2.5
    assert data["model"]["threads"] == 1  # the rest kept
    assert session.settings == new


def test_when_saving_fails_the_dialog_says_so_and_stays(
    qtbot: QtBot, session: AppSession, home: Path
) -> None:
    dialog = open_dialog(qtbot, session)
    path = settings_file(home)
    path.unlink()
    path.mkdir()  # the settings file cannot be replaced now
    dialog.editors["chat.history_turns"].set_value(5)
    with qtbot.waitSignal(session.settingsFailed, timeout=10_000):
        dialog.ok_button.click()
    assert dialog.isVisible()
    assert "not saved" in dialog.status.text()
    assert dialog.editors["chat.history_turns"].value() == 5
    assert dialog.ok_button.isEnabled()
    assert session.settings.chat.history_turns == 20


def test_shortening_retention_asks_first(
    qtbot: QtBot, session: AppSession, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialog = open_dialog(qtbot, session)
    retention = dialog.editors["memory.episode_retention_days"]
    assert isinstance(retention, NumberEditor) and retention.switch is not None
    retention.switch.setChecked(True)
    retention.spin.setValue(30)
    asked: list[str] = []

    def answer(reply: QMessageBox.StandardButton) -> Any:
        def question(parent: object, title: str, text: str, *a: object) -> Any:
            asked.append(text)
            return reply

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    dialog.ok_button.click()
    assert asked and "30 days" in asked[0]
    assert dialog.isVisible() and "episode_retention_days" not in saved(home)["memory"]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(session.settingsApplied, timeout=10_000):
        dialog.ok_button.click()
    assert saved(home)["memory"]["episode_retention_days"] == 30


def test_reset_puts_a_sections_defaults_back(qtbot: QtBot, session: AppSession) -> None:
    dialog = open_dialog(qtbot, session)
    dialog.editors["ui.font_size"].set_value(20)
    dialog.editors["ui.theme"].set_value("dark")
    dialog.editors["generation.top_p"].set_value(0.5)
    dialog.reset_buttons["everyday"].click()
    assert dialog.editors["ui.font_size"].value() == 11
    assert dialog.editors["ui.theme"].value() == "system"
    assert dialog.editors["generation.top_p"].value() == pytest.approx(0.5)
    dialog.reset_buttons["model"].click()
    assert dialog.editors["model.seed"].value() is None  # the file said 7
    assert dialog.changes()["model.seed"] is None


def dialog_texts(dialog: SettingsDialog) -> list[str]:
    texts = [w.text() for w in dialog.findChildren(QLineEdit)]
    texts += [w.placeholderText() for w in dialog.findChildren(QLineEdit)]
    texts += [w.text() for w in dialog.findChildren(QLabel)]
    texts += [w.toPlainText() for w in dialog.findChildren(QPlainTextEdit)]
    return texts


def test_an_api_key_goes_to_the_keyring_and_is_never_shown_or_written(
    qtbot: QtBot, session: AppSession, home: Path, memory_keyring: MemoryKeyring
) -> None:
    key = "sk-very-secret-4242"
    dialog = open_dialog(qtbot, session)
    editor = dialog.secrets_panel.editors[MODEL_SERVER_KEY]
    assert editor.state.text() == "not set"
    assert editor.line.echoMode() == QLineEdit.EchoMode.Password
    editor.line.setText(key)
    dialog.editors["chat.history_turns"].set_value(9)
    with qtbot.waitSignal(session.settingsApplied, timeout=10_000):
        dialog.ok_button.click()
    assert memory_keyring.store[("mneme", MODEL_SERVER_KEY)] == key
    for path in (home / "config").rglob("*"):
        if path.is_file():
            assert key not in path.read_text(), path
    assert saved(home)["chat"]["history_turns"] == 9

    again = open_dialog(qtbot, session)
    shown = again.secrets_panel.editors[MODEL_SERVER_KEY]
    assert shown.line.text() == ""
    assert shown.state.text() == "saved in keyring"
    assert not any(key in text for text in dialog_texts(again))
    assert again.secrets_panel.editors[CHROMA_SERVER_TOKEN].state.text() == "not set"

    shown.remove_button.click()  # only a key changes: no settings to apply
    again.ok_button.click()
    qtbot.waitUntil(lambda: not again.isVisible())
    assert ("mneme", MODEL_SERVER_KEY) not in memory_keyring.store
    assert again.result() == QDialog.DialogCode.Accepted


def test_without_a_keyring_the_dialog_explains_and_offers_the_file(
    qtbot: QtBot, session: AppSession, home: Path, no_keyring: None
) -> None:
    token = "chroma-token-777"
    secrets_file = home / "config" / "secrets.json"
    dialog = open_dialog(qtbot, session)
    panel = dialog.secrets_panel
    assert panel.warning.isHidden()  # no server in use: nothing to keep, nothing to warn of
    dialog.tabs.setCurrentIndex(0)
    panel.editors[CHROMA_SERVER_TOKEN].line.setText(token)
    dialog.ok_button.click()
    error = panel.editors[CHROMA_SERVER_TOKEN].error
    qtbot.waitUntil(lambda: not error.isHidden())
    assert "No system keyring" in error.text() and "not encrypted" in error.text()
    assert dialog.isVisible() and dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Keys"
    assert panel.editors[CHROMA_SERVER_TOKEN].line.text() == token  # kept to try again
    assert not secrets_file.exists()

    dialog.editors["secrets.allow_file_fallback"].set_value(True)  # the person opts in
    with qtbot.waitSignal(session.settingsApplied, timeout=10_000):
        dialog.ok_button.click()
    assert json.loads(secrets_file.read_text()) == {CHROMA_SERVER_TOKEN: token}
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert saved(home)["secrets"] == {"allow_file_fallback": True}
    assert token not in settings_file(home).read_text()

    again = open_dialog(qtbot, session)
    assert again.secrets_panel.editors[CHROMA_SERVER_TOKEN].state.text() == (
        "saved in the private file"
    )
    assert not any(token in text for text in dialog_texts(again))


def test_the_data_folders_are_shown_and_open_in_the_file_manager(
    qtbot: QtBot, session: AppSession
) -> None:
    opened: list[Path] = []
    dialog = open_dialog(qtbot, session, open_folder=opened.append)
    paths = session.assistant.paths
    for key, folder in (("data", paths.data), ("config", paths.config), ("logs", paths.logs)):
        shown = dialog.findChild(QLineEdit, f"folder:{key}")
        assert shown is not None and shown.isReadOnly() and shown.text() == str(folder)
        dialog.folder_buttons[key].click()
    assert opened == [paths.data, paths.config, paths.logs]


def test_the_missing_keyring_is_said_where_a_server_needs_a_key(
    qtbot: QtBot, session: AppSession, no_keyring: None
) -> None:
    with qtbot.waitSignal(session.settingsApplied, timeout=10_000):
        session.apply_settings(
            updated(session.settings, {"memory.server_url": "http://127.0.0.1:9"})
        )
    dialog = open_dialog(qtbot, session)
    panel = dialog.secrets_panel
    qtbot.waitUntil(lambda: panel.status is not None)
    assert not panel.warning.isHidden() and "No system keyring" in panel.warning.text()


def test_the_memory_tab_says_what_the_model_writes_and_why(
    qtbot: QtBot, session: AppSession, home: Path
) -> None:
    dialog = open_dialog(qtbot, session)
    editor = dialog.editors["memory.model_writes"]
    assert editor.input.currentText() == "Facts and summaries"  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "(your choice)" in dialog.model_trust.text())
    editor.set_value("automatic")
    with qtbot.waitSignal(session.settingsApplied, timeout=10_000):
        dialog.ok_button.click()
    again = open_dialog(qtbot, session)
    qtbot.waitUntil(lambda: "until SmolLM2" in again.model_trust.text())
    assert saved(home)["memory"]["model_writes"] == "automatic"
