"""The model manager dialog on a real session: listing, choosing, adding, removing, downloading."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from mneme.assistant.catalogue import CATALOGUE
from mneme.assistant.core import Assistant
from mneme.ui.model_manager import DownloadState, ModelManagerDialog
from mneme.ui.session import AppSession, PartState
from tests.file_server import FileServer, Served, serve
from tests.gguf_factory import write_tiny_llama

SIZE = 2 * 1024 * 1024
MODEL = b"GGUF" + os.urandom(SIZE - 4)


@pytest.fixture
def session(home: Path) -> Iterator[AppSession]:
    s = AppSession(Assistant.from_environment())
    yield s
    s.shutdown()


@pytest.fixture
def models(session: AppSession) -> Path:
    folder = session.assistant.paths.models
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def server() -> Iterator[FileServer]:
    files = {
        "/m/model.gguf": Served(MODEL, gate_after=1_000_000),
        "/m/quick.gguf": Served(MODEL),
    }
    with serve(files) as s:
        yield s


def open_dialog(qtbot: QtBot, session: AppSession) -> ModelManagerDialog:
    opened: list[Path] = []
    dialog = ModelManagerDialog(session, open_folder=opened.append)
    dialog.progress_interval = 0  # every chunk shows, so the test sees progress at once
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.model_list.topLevelItemCount() > 0)
    return dialog


def state(dialog: ModelManagerDialog) -> DownloadState:
    """(A call, so that mypy does not narrow the attribute between steps of a test.)"""
    return dialog.state


def rows(dialog: ModelManagerDialog) -> list[list[str]]:
    items = [
        dialog.model_list.topLevelItem(i) for i in range(dialog.model_list.topLevelItemCount())
    ]
    return [[item.text(c) for c in range(4)] for item in items if item is not None]


def test_the_bundled_model_is_listed_as_the_one_in_use(
    qtbot: QtBot, session: AppSession, models: Path
) -> None:
    dialog = open_dialog(qtbot, session)
    [bundled] = rows(dialog)
    assert "135M" in bundled[0] and bundled[3] == "Bundled · in use"
    assert bundled[1].endswith(".gguf") and bundled[2].endswith(" MB")
    active = dialog.active()
    assert active is not None and active.file.bundled
    dialog.select(active.file.path)
    assert not dialog.use_button.isEnabled()  # already in use
    assert not dialog.remove_button.isEnabled()  # bundled, and in use
    assert dialog.recommended.rowCount() == len(CATALOGUE)
    assert all(b.text() == "Download" for b in dialog.recommended_buttons.values())
    assert state(dialog) is DownloadState.IDLE and not dialog.pause_button.isEnabled()


def test_a_download_shows_progress_pauses_resumes_and_appears_in_the_list(
    qtbot: QtBot, session: AppSession, models: Path, server: FileServer
) -> None:
    dialog = open_dialog(qtbot, session)
    dialog.url_edit.setText(server.url("/m/model.gguf"))
    dialog.sha_edit.setText(hashlib.sha256(MODEL).hexdigest())
    dialog.download_button.click()
    assert dialog.downloading and not dialog.download_button.isEnabled()
    # the server holds the rest of the file after 1 MB: progress is visible meanwhile
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
    assert " of 2.1 MB" in dialog.progress_label.text()

    assert dialog.pause()
    with qtbot.waitSignal(dialog.downloadPaused, timeout=10_000) as paused:
        server.files["/m/model.gguf"].gate.set()
    part = models / "model.gguf.part"
    assert paused.args[0].path == part and 0 < part.stat().st_size < SIZE
    assert state(dialog) is DownloadState.PAUSED
    assert dialog.pause_button.text() == "Resume" and dialog.pause_button.isEnabled()
    assert dialog.progress_label.text().startswith("Paused at")
    assert not (models / "model.gguf").exists()

    with qtbot.waitSignal(dialog.downloadFinished, timeout=10_000) as finished:
        dialog.pause_button.click()  # "Resume"
    assert finished.args[0].path == models / "model.gguf"
    assert (models / "model.gguf").read_bytes() == MODEL and not part.exists()
    assert server.seen("/m/model.gguf")[-1].headers["range"] == f"bytes={part_size(paused)}-"
    qtbot.waitUntil(lambda: any(r[1] == "model.gguf" for r in rows(dialog)))
    assert dialog.selected_path() == models / "model.gguf"
    assert state(dialog) is DownloadState.IDLE and dialog.download_button.isEnabled()
    assert "Downloaded model.gguf" in dialog.progress_label.text()


def part_size(paused: object) -> int:
    return int(paused.args[0].size)  # type: ignore[attr-defined]


def test_a_wrong_checksum_is_shown_and_nothing_is_kept(
    qtbot: QtBot, session: AppSession, models: Path, server: FileServer
) -> None:
    dialog = open_dialog(qtbot, session)
    with qtbot.waitSignal(dialog.downloadFailed, timeout=10_000):
        assert dialog.start_download(server.url("/m/quick.gguf"), sha256="0" * 64)
    assert dialog.download_error.isVisible()
    assert "does not match its SHA-256" in dialog.download_error.text()
    assert f"expected {'0' * 64}" in dialog.download_error.text()
    assert state(dialog) is DownloadState.IDLE and not dialog.pause_button.isEnabled()
    assert list(models.iterdir()) == []


def test_an_invalid_address_is_refused_at_once(
    qtbot: QtBot, session: AppSession, models: Path
) -> None:
    dialog = open_dialog(qtbot, session)
    assert not dialog.start_download("ftp://example.org/model.gguf")
    assert "Only http:// and https://" in dialog.download_error.text()
    assert state(dialog) is DownloadState.IDLE


def test_cancel_can_keep_or_delete_the_partial_file(
    qtbot: QtBot, session: AppSession, models: Path, server: FileServer
) -> None:
    dialog = open_dialog(qtbot, session)
    part = models / "model.gguf.part"
    dialog.start_download(server.url("/m/model.gguf"))
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
    assert dialog.cancel(keep_partial=True)
    with qtbot.waitSignal(dialog.downloadPaused, timeout=10_000):
        server.files["/m/model.gguf"].gate.set()
    assert state(dialog) is DownloadState.IDLE and part.exists()
    assert "kept" in dialog.progress_label.text()
    qtbot.waitUntil(lambda: not dialog.cancel_button.isEnabled())

    server.files["/m/model.gguf"].gate.clear()  # the next response stops at 1 MB again
    dialog.start_download(server.url("/m/model.gguf"))
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
    assert server.seen("/m/model.gguf")[-1].headers.get("range")  # continued, not restarted
    assert dialog.pause()
    with qtbot.waitSignal(dialog.downloadPaused, timeout=10_000):
        server.files["/m/model.gguf"].gate.set()
    assert dialog.cancel(keep_partial=False)
    assert state(dialog) is DownloadState.IDLE
    assert not part.exists() and list(models.iterdir()) == []
    assert "deleted" in dialog.progress_label.text()


def test_use_this_model_saves_the_setting_and_loads_it(
    qtbot: QtBot, session: AppSession, models: Path
) -> None:
    tiny = write_tiny_llama(models / "tiny.gguf")
    dialog = open_dialog(qtbot, session)
    assert [r[1] for r in rows(dialog)][1:] == ["tiny.gguf"]
    assert dialog.select(tiny) and dialog.use_button.isEnabled()
    with qtbot.waitSignal(session.settingsApplied, timeout=30_000):
        dialog.use_button.click()
    saved = json.loads(session.assistant.paths.settings_file.read_text())
    assert saved["model"]["path"] == str(tiny)
    assert session.settings.model.path == str(tiny)
    qtbot.waitUntil(lambda: session.model_state is not PartState.LOADING, timeout=60_000)
    assert session.model_state is PartState.READY
    qtbot.waitUntil(lambda: "Now chatting with tiny.gguf" in dialog.model_status.text())
    qtbot.waitUntil(lambda: [r[3] for r in rows(dialog)] == ["Bundled", "In use"])
    assert not dialog.use_button.isEnabled() and not dialog.remove_button.isEnabled()


def test_add_file_checks_the_magic_and_uses_the_file_where_it_is(
    qtbot: QtBot,
    session: AppSession,
    models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dialog = open_dialog(qtbot, session)
    notes = tmp_path / "notes.gguf"
    notes.write_text("shopping list")
    chosen = [str(notes)]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (chosen[0], ""))
    dialog.add_button.click()
    assert "notes.gguf is not a GGUF model file" in dialog.model_status.text()
    assert session.settings.model.path is None

    elsewhere = write_tiny_llama(tmp_path / "elsewhere.gguf")
    chosen[0] = str(elsewhere)
    with qtbot.waitSignal(session.settingsApplied, timeout=30_000):
        dialog.add_button.click()
    assert session.settings.model.path == str(elsewhere)
    qtbot.waitUntil(lambda: any(r[1] == "elsewhere.gguf" for r in rows(dialog)))
    assert rows(dialog)[-1][3] == "In use" and elsewhere.exists()
    assert list(models.iterdir()) == []  # used where it is, not copied


def test_remove_asks_and_deletes_only_from_the_models_folder(
    qtbot: QtBot, session: AppSession, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spare = write_tiny_llama(models / "spare.gguf")
    (models / CATALOGUE[0].file).write_bytes(b"GGUF" + b"\0" * 64)  # a catalogue model
    dialog = open_dialog(qtbot, session)
    assert dialog.recommended_buttons[CATALOGUE[0].file].text() == "Downloaded"
    assert not dialog.recommended_buttons[CATALOGUE[0].file].isEnabled()

    answers = [QMessageBox.StandardButton.No]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers[0])
    dialog.select(spare)
    assert dialog.remove_button.isEnabled()
    dialog.remove_button.click()
    assert spare.exists()  # said no
    answers[0] = QMessageBox.StandardButton.Yes
    dialog.remove_button.click()
    qtbot.waitUntil(lambda: not spare.exists(), timeout=30_000)
    qtbot.waitUntil(lambda: "Deleted spare.gguf" in dialog.model_status.text())
    qtbot.waitUntil(lambda: all(r[1] != "spare.gguf" for r in rows(dialog)))

    bundled = dialog.active()
    assert bundled is not None
    dialog.select(bundled.file.path)
    assert not dialog.remove_selected()
    assert "model in use" in dialog.model_status.text() and bundled.file.path.exists()
