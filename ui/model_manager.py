"""The model manager: which GGUF files there are, which one is used, and getting more.

People outgrow the tiny bundled model; this is where they pick a bigger one.
Listing reads each file's header and downloading is network work, so both run
as background operations; the window only shows and commands. A download can
be paused, resumed (also after closing the window: downloading the same
address again continues from the ``.part`` file) or cancelled, and cancelling
asks whether to keep what was already fetched, because gigabytes are slow to
fetch again. Removing a file asks first and never touches the model in use or
files outside the models folder.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.catalogue import CATALOGUE, CatalogueEntry
from mneme.assistant.download_errors import DownloadError
from mneme.assistant.downloads import (
    DownloadProgress,
    DownloadResult,
    destination,
    discard_partial,
    format_bytes,
    normalise_url,
    part_path,
)
from mneme.assistant.errors import InvalidRequestError
from mneme.assistant.models import ListedModel, same_file, settings_for_model

from .core_op import CoreOp, Failure
from .look import ERROR_STYLE, HELP_STYLE, FolderOpener, as_sentence, open_in_file_manager
from .session import AppSession, PartState

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant

PATH_ROLE = Qt.ItemDataRole.UserRole + 1


class DownloadState(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    """Pause or cancel asked; the worker stops after the chunk it is reading."""
    PAUSED = "paused"
    FAILED = "failed"
    """Failed with a partial file kept: Resume tries again from there."""


@dataclass(frozen=True, slots=True)
class _Request:
    url: str
    sha256: str | None
    filename: str | None


def _size(path: Path | None) -> int:
    if path is None:
        return 0
    try:
        return path.stat().st_size
    except OSError:
        return 0


class ModelManagerDialog(QDialog):
    modelsListed = Signal(object)
    """The list of :class:`ListedModel` now shown."""
    downloadFinished = Signal(object)
    """The :class:`DownloadResult` of a completed download."""
    downloadPaused = Signal(object)
    """The :class:`DownloadResult` of a paused (or cancelled) download."""
    downloadFailed = Signal(str)
    """What went wrong, as shown."""

    PROGRESS_INTERVAL_S = 0.2

    def __init__(
        self,
        session: AppSession,
        parent: QWidget | None = None,
        *,
        open_folder: FolderOpener = open_in_file_manager,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setObjectName("modelManager")
        self.session = session
        self.open_folder = open_folder
        self.progress_interval = self.PROGRESS_INTERVAL_S
        self.models: list[ListedModel] = []
        self.state = DownloadState.IDLE
        self.last_progress: DownloadProgress | None = None
        self._request: _Request | None = None
        self._stop: threading.Event | None = None
        self._partial: Path | None = None
        self._cancelling = False
        self._discard = False
        self._outcome: DownloadResult | None = None
        self._error: Exception | None = None
        self._select_after_scan: Path | None = None
        self._switching: str | None = None
        """Name of the model being switched to, until it has loaded or failed."""
        self._scanning = False
        self._rescan = False

        layout = QVBoxLayout(self)
        layout.addWidget(self._build_installed())
        layout.addWidget(self._build_download())
        layout.addWidget(self._build_recommended())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(780, 720)

        session.settingsApplied.connect(self._settings_applied)
        session.settingsFailed.connect(self._settings_failed)
        session.modelState.connect(self._model_state)
        self._update_download_buttons()
        self._update_model_buttons()
        self.refresh()

    # -- layout -------------------------------------------------------------------

    def _build_installed(self) -> QGroupBox:
        box = QGroupBox("Models on this computer", self)
        self.model_list = QTreeWidget(box)
        self.model_list.setObjectName("modelList")
        self.model_list.setHeaderLabels(["Model", "File", "Size", ""])
        self.model_list.setRootIsDecorated(False)
        self.model_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.model_list.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.model_list.itemSelectionChanged.connect(self._update_model_buttons)
        self.model_list.itemDoubleClicked.connect(lambda *_: self.use_selected())

        self.use_button = QPushButton("Use this model", box)
        self.use_button.setObjectName("useModel")
        self.use_button.clicked.connect(self.use_selected)
        self.add_button = QPushButton("Add file…", box)
        self.add_button.setObjectName("addModelFile")
        self.add_button.setToolTip("Use a GGUF file from anywhere on this computer, where it is")
        self.add_button.clicked.connect(self.add_file)
        self.remove_button = QPushButton("Remove…", box)
        self.remove_button.setObjectName("removeModel")
        self.remove_button.setToolTip("Delete a downloaded model file from the models folder")
        self.remove_button.clicked.connect(self.remove_selected)
        self.folder_button = QPushButton("Open folder", box)
        self.folder_button.setObjectName("openModelsFolder")
        self.folder_button.setToolTip(str(self.models_folder))
        self.folder_button.clicked.connect(self._open_models_folder)
        row = QHBoxLayout()
        for button in (self.use_button, self.add_button, self.remove_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.folder_button)

        self.model_status = QLabel("", box)
        self.model_status.setObjectName("modelStatus")
        self.model_status.setWordWrap(True)
        self.model_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.server_note = QLabel(
            "A model server is in use (see Settings). Choosing a model here switches back to "
            "a model on this computer.",
            box,
        )
        self.server_note.setObjectName("serverNote")
        self.server_note.setWordWrap(True)
        self.server_note.setStyleSheet(HELP_STYLE)
        self.server_note.setVisible(self.session.settings.server.enabled)

        layout = QVBoxLayout(box)
        layout.addWidget(self.model_list)
        layout.addLayout(row)
        layout.addWidget(self.server_note)
        layout.addWidget(self.model_status)
        return box

    def _build_download(self) -> QGroupBox:
        box = QGroupBox("Download a model", self)
        self.url_edit = QLineEdit(box)
        self.url_edit.setObjectName("downloadUrl")
        self.url_edit.setPlaceholderText("https://huggingface.co/…/resolve/main/model.gguf")
        self.url_edit.returnPressed.connect(self._download_clicked)
        self.sha_edit = QLineEdit(box)
        self.sha_edit.setObjectName("downloadSha256")
        self.sha_edit.setPlaceholderText("optional: checks the file arrived intact")
        self.download_button = QPushButton("Download", box)
        self.download_button.setObjectName("downloadButton")
        self.download_button.clicked.connect(self._download_clicked)
        form = QFormLayout()
        url_row = QHBoxLayout()
        url_row.addWidget(self.url_edit, 1)
        url_row.addWidget(self.download_button)
        form.addRow("Address:", url_row)
        form.addRow("SHA-256:", self.sha_edit)

        self.progress = QProgressBar(box)
        self.progress.setObjectName("downloadProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress_label = QLabel("", box)
        self.progress_label.setObjectName("downloadStatus")
        self.pause_button = QPushButton("Pause", box)
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.clicked.connect(self._pause_clicked)
        self.cancel_button = QPushButton("Cancel", box)
        self.cancel_button.setObjectName("cancelDownload")
        self.cancel_button.clicked.connect(lambda: self.cancel())
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.pause_button)
        progress_row.addWidget(self.cancel_button)
        self.download_error = QLabel("", box)
        self.download_error.setObjectName("downloadError")
        self.download_error.setWordWrap(True)
        self.download_error.setStyleSheet(ERROR_STYLE)
        self.download_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_error.hide()

        layout = QVBoxLayout(box)
        layout.addLayout(form)
        layout.addLayout(progress_row)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.download_error)
        return box

    def _build_recommended(self) -> QGroupBox:
        box = QGroupBox("Recommended models", self)
        self.recommended = QTableWidget(len(CATALOGUE), 5, box)
        self.recommended.setObjectName("recommendedTable")
        self.recommended.setHorizontalHeaderLabels(["Model", "Download", "Memory", "Licence", ""])
        self.recommended.verticalHeader().hide()
        self.recommended.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.recommended.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.recommended.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, 5):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.recommended_buttons: dict[str, QPushButton] = {}
        for row, entry in enumerate(CATALOGUE):
            name = QTableWidgetItem(entry.name)
            name.setToolTip(f"{entry.note}\n{entry.page}".strip())
            cells = [
                name,
                QTableWidgetItem(f"~{format_bytes(entry.size_bytes)}"),
                QTableWidgetItem(f"~{format_bytes(entry.ram_bytes)} RAM"),
                QTableWidgetItem(entry.license),
            ]
            for column, cell in enumerate(cells):
                self.recommended.setItem(row, column, cell)
            button = QPushButton("Download", self.recommended)
            button.setObjectName(f"recommended:{entry.file}")
            button.clicked.connect(lambda _=False, e=entry: self.download_recommended(e))
            self.recommended.setCellWidget(row, 4, button)
            self.recommended_buttons[entry.file] = button
        note = QLabel(
            "Sizes and memory are approximate. Each model has its own licence: read it on the "
            "model's page (hover over its name) before using it.",
            box,
        )
        note.setWordWrap(True)
        note.setStyleSheet(HELP_STYLE)
        layout = QVBoxLayout(box)
        layout.addWidget(self.recommended)
        layout.addWidget(note)
        return box

    # -- the list of models ---------------------------------------------------------

    @property
    def models_folder(self) -> Path:
        return self.session.assistant.paths.models

    def refresh(self, select: Path | None = None) -> None:
        """List the models again (in the background); ``select`` that file once listed."""
        if select is not None:
            self._select_after_scan = select
        if self._scanning:
            self._rescan = True
            return
        self._scanning = True
        CoreOp(
            self.session,
            lambda core: core.models.available(),
            parent=self,
            name="list models",
            needs=(),
        ).success(self._listed).failure(self._list_failed).finished(self._scan_done).run()

    def _scan_done(self) -> None:
        self._scanning = False
        if self._rescan:
            self._rescan = False
            self.refresh()

    def _list_failed(self, why: str) -> None:
        self._show_model_status(f"The models could not be listed: {why}", error=True)

    def _listed(self, models: list[ListedModel]) -> None:
        keep = self._select_after_scan or self.selected_path()
        self._select_after_scan = None
        self.models = models
        self.model_list.clear()
        for listed in models:
            item = self._item(listed)
            self.model_list.addTopLevelItem(item)
            if keep is not None and same_file(listed.file.path, keep):
                item.setSelected(True)
                self.model_list.setCurrentItem(item)
        self.server_note.setVisible(self.session.settings.server.enabled)
        self._update_model_buttons()
        self._update_recommended()
        self.modelsListed.emit(models)

    def _item(self, listed: ListedModel) -> QTreeWidgetItem:
        f = listed.file
        name = f.label if f.info is not None else f.path.stem
        notes = (["Bundled"] if f.bundled else []) + (["in use"] if listed.in_use else [])
        status = " · ".join(notes).capitalize()
        if f.error:
            status = "Cannot be used"
        item = QTreeWidgetItem([name, f.path.name, format_bytes(listed.size), status])
        item.setData(0, PATH_ROLE, str(f.path))
        item.setToolTip(0, str(f.path) + (f"\n{f.error}" if f.error else ""))
        item.setToolTip(3, f.error or "")
        if listed.in_use:
            font = QFont(item.font(0))
            font.setBold(True)
            for column in range(4):
                item.setFont(column, font)
        return item

    def selected(self) -> ListedModel | None:
        path = self.selected_path()
        return next((m for m in self.models if path and same_file(m.file.path, path)), None)

    def selected_path(self) -> Path | None:
        items = self.model_list.selectedItems()
        return Path(items[0].data(0, PATH_ROLE)) if items else None

    def select(self, path: Path) -> bool:
        for index in range(self.model_list.topLevelItemCount()):
            item = self.model_list.topLevelItem(index)
            if item is not None and same_file(Path(item.data(0, PATH_ROLE)), path):
                self.model_list.setCurrentItem(item)
                item.setSelected(True)
                return True
        return False

    def active(self) -> ListedModel | None:
        return next((m for m in self.models if m.in_use), None)

    def _update_model_buttons(self) -> None:
        listed = self.selected()
        using_server = self.session.settings.server.enabled
        self.use_button.setEnabled(
            listed is not None
            and listed.file.error is None
            and (using_server or not listed.in_use)
            and self._switching is None
        )
        self.remove_button.setEnabled(listed is not None and listed.removable)

    def _show_model_status(self, text: str, *, error: bool = False) -> None:
        self.model_status.setText(text)
        self.model_status.setStyleSheet(ERROR_STYLE if error else "")

    # -- choosing, adding, removing ---------------------------------------------------

    def use_selected(self) -> bool:
        listed = self.selected()
        if listed is None or listed.file.error is not None:
            return False
        return self.use_model(listed.file.path, bundled=listed.file.bundled)

    def use_model(self, path: Path, *, bundled: bool = False) -> bool:
        """Save ``path`` as the chat model and load it (in the background)."""
        try:  # the core's rule; it reads only the file's first bytes
            new = settings_for_model(self.session.settings, None if bundled else path)
        except InvalidRequestError as exc:  # the core's words, as they are (a file name first)
            self._show_model_status(f"{exc}.", error=not str(exc).endswith("in use"))
            return False
        self._switching = path.name
        self._show_model_status(f"Switching to {path.name}…")
        self._update_model_buttons()
        self.session.apply_settings(new)
        return True

    def _settings_applied(self, settings: object) -> None:
        if self._switching is not None:
            self._show_model_status(f"Loading {self._switching}…")
        self.refresh()

    def _settings_failed(self, message: str) -> None:
        if self._switching is not None:
            self._switching = None
            self._show_model_status(as_sentence(message), error=True)
            self._update_model_buttons()

    def _model_state(self, state: str, detail: str) -> None:
        if self._switching is None or state not in (PartState.READY, PartState.FAILED):
            return
        name, self._switching = self._switching, None
        if state == PartState.FAILED:
            self._show_model_status(
                f"{name} was chosen but could not be loaded: {as_sentence(detail)}", error=True
            )
        else:
            self._show_model_status(f"Now chatting with {name}.")
        self._update_model_buttons()

    def add_file(self) -> bool:
        """Choose a GGUF file anywhere and use it where it is."""
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Choose a GGUF model", str(Path.home()), "GGUF models (*.gguf);;All files (*)"
        )
        return self.add_model_file(Path(chosen)) if chosen else False

    def add_model_file(self, path: Path) -> bool:
        self._select_after_scan = path
        return self.use_model(path)

    def remove_selected(self) -> bool:
        listed = self.selected()
        if listed is None:
            return False
        path = listed.file.path
        if listed.kept_because is not None:
            self._show_model_status(f"{listed.kept_because}.", error=True)
            return False
        if listed.removable:
            answer = QMessageBox.question(
                self,
                "Remove model",
                f"Delete {path.name} ({format_bytes(listed.size)}) from this computer?\n\n"
                "It can be downloaded again later.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False

        def removed(_: object) -> None:
            self._show_model_status(f"Deleted {path.name}.")
            self.refresh()

        return (
            CoreOp(  # the core says why a file cannot be removed (in use, elsewhere)
                self.session,
                lambda core: core.models.remove(path),
                parent=self,
                name="remove model",
                needs=(),
            )
            .success(removed)
            .failure(lambda why: self._show_model_status(why, error=True))
            .run()
        )

    def _open_models_folder(self) -> None:
        with contextlib.suppress(OSError):
            self.models_folder.mkdir(parents=True, exist_ok=True)
        self.open_folder(self.models_folder)

    # -- downloading --------------------------------------------------------------------

    @property
    def downloading(self) -> bool:
        return self.state in (DownloadState.RUNNING, DownloadState.STOPPING)

    def _download_clicked(self) -> None:
        self.start_download(self.url_edit.text(), self.sha_edit.text().strip() or None)

    def download_recommended(self, entry: CatalogueEntry) -> bool:
        self.url_edit.setText(entry.url)
        self.sha_edit.setText(entry.sha256 or "")
        return self.start_download(entry.url, entry.sha256, filename=entry.file)

    def start_download(
        self, url: str, sha256: str | None = None, *, filename: str | None = None
    ) -> bool:
        """Start (or continue, if its ``.part`` is there) downloading into the models folder."""
        if self.downloading:
            return False
        self._clear_download_error()
        try:
            normalise_url(url)
        except DownloadError as exc:
            self._show_download_error(str(exc))
            return False
        self._request = _Request(url.strip(), sha256 or None, filename)
        self._run()
        return True

    def pause(self) -> bool:
        if self.state is not DownloadState.RUNNING or self._stop is None:
            return False
        self._stop.set()
        self._set_state(DownloadState.STOPPING)
        self.progress_label.setText("Pausing…")
        return True

    def resume(self) -> bool:
        if self.state not in (DownloadState.PAUSED, DownloadState.FAILED) or not self._request:
            return False
        self._clear_download_error()
        self._run()
        return True

    def cancel(self, keep_partial: bool | None = None) -> bool:
        """Stop the download for good; ``keep_partial`` None asks whether to keep what arrived."""
        if self.state is DownloadState.IDLE or self._cancelling:
            return False
        partial = self._partial_file()
        if keep_partial is None:
            if partial is None and not self.downloading:
                keep_partial = True  # nothing to keep or lose
            else:
                answer = self._ask_keep_partial()
                if answer is None:
                    return False
                keep_partial = answer
        self._discard = not keep_partial
        if self.downloading and self._stop is not None:
            self._cancelling = True
            self._stop.set()
            self._set_state(DownloadState.STOPPING)
            self.progress_label.setText("Stopping…")
            return True
        self._finish_cancel(partial)
        return True

    def _ask_keep_partial(self) -> bool | None:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Cancel download")
        done = self.last_progress.done if self.last_progress else _size(self._partial_file())
        box.setText(
            f"Keep the {format_bytes(done)} downloaded so far? Downloading the same model "
            "again later continues from there."
        )
        keep = box.addButton("Keep for later", QMessageBox.ButtonRole.AcceptRole)
        delete = box.addButton("Delete it", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Go on downloading", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        clicked = box.clickedButton()
        if clicked is keep:
            return True
        if clicked is delete:
            return False
        return None

    def _partial_file(self) -> Path | None:
        if self._partial is not None:
            return self._partial
        if self._request is None:
            return None
        try:
            part = part_path(
                destination(self._request.url, self.models_folder, self._request.filename)
            )
        except DownloadError:
            return None
        return part if part.exists() else None

    def _run(self) -> None:
        request = self._request
        assert request is not None
        stop = threading.Event()
        self._stop = stop
        self._partial = None
        self._discard = False
        self._outcome = None
        self._error = None
        interval = self.progress_interval

        def work(core: Assistant) -> Iterator[DownloadProgress | DownloadResult]:
            result = yield from core.models.download(
                request.url,
                sha256=request.sha256,
                filename=request.filename,
                should_stop=stop.is_set,
                progress_interval=interval,
            )
            yield result

        self._set_state(DownloadState.RUNNING)
        self.progress_label.setText("Connecting…")
        CoreOp(
            self.session, work, parent=self, name="download model", needs=(), long=True
        ).progress(self._download_event).failure(self._download_error).finished(
            self._download_ended
        ).run()

    def _download_event(self, item: object) -> None:
        if isinstance(item, DownloadResult):
            self._outcome = item
        elif isinstance(item, DownloadProgress):
            self.last_progress = item
            if self.state is DownloadState.RUNNING:
                self._show_progress(item)

    def _download_error(self, why: Failure) -> None:
        self._error = why.error or RuntimeError(str(why))

    def _download_ended(self) -> None:
        outcome, error = self._outcome, self._error
        self._outcome, self._error, self._stop = None, None, None
        cancelling, self._cancelling = self._cancelling, False
        if error is not None:
            partial = error.partial if isinstance(error, DownloadError) else None
            message = str(error) if isinstance(error, DownloadError) else as_sentence(str(error))
            if not isinstance(error, DownloadError):
                message = f"The download failed: {message}"
            self._partial = partial
            if cancelling:
                self._finish_cancel(partial)
            else:
                self._set_state(DownloadState.FAILED if partial else DownloadState.IDLE)
                self.progress_label.setText("")
                self._show_download_error(message)
                self.downloadFailed.emit(message)
        elif outcome is not None and outcome.complete:
            self._partial = None
            self._set_state(DownloadState.IDLE)
            self.progress.setValue(self.progress.maximum())
            self.progress_label.setText(
                f"Downloaded {outcome.path.name} ({format_bytes(outcome.size)}). "
                "Select it above and press “Use this model”."
            )
            self.refresh(select=outcome.path)
            self.downloadFinished.emit(outcome)
        elif outcome is not None:
            self._partial = outcome.path
            if cancelling:
                self._finish_cancel(outcome.path)
            else:
                self._set_state(DownloadState.PAUSED)
                total = f" of {format_bytes(outcome.total)}" if outcome.total else ""
                self.progress_label.setText(f"Paused at {format_bytes(outcome.size)}{total}.")
            self.downloadPaused.emit(outcome)
        else:  # the worker ended without a result: nothing is known to be on disk
            self._set_state(DownloadState.IDLE)
        self._update_recommended()

    def _finish_cancel(self, partial: Path | None) -> None:
        discard, self._discard = self._discard, False
        self._partial = None
        self._set_state(DownloadState.IDLE)
        self.progress.setValue(0)
        if partial is not None and discard:
            discard_partial(partial)
            self.progress_label.setText("Download cancelled; the partial file was deleted.")
        elif partial is not None:
            self.progress_label.setText(
                f"Download stopped; the {format_bytes(_size(partial))} downloaded so far are "
                "kept. Download the same model again to continue."
            )
        else:
            self.progress_label.setText("Download cancelled.")
        self._update_recommended()

    def _show_progress(self, p: DownloadProgress) -> None:
        if p.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * (p.fraction or 0.0)))
            amount = f"{format_bytes(p.done)} of {format_bytes(p.total)}"
        else:
            self.progress.setRange(0, 0)  # size unknown: a busy bar
            amount = format_bytes(p.done)
        parts = [amount]
        if p.speed > 0:
            parts.append(f"{format_bytes(p.speed)}/s")
        left = p.seconds_left
        if left is not None and p.speed > 0:
            parts.append(_duration(left) + " left")
        self.progress_label.setText(" · ".join(parts))

    def _set_state(self, state: DownloadState) -> None:
        self.state = state
        self._update_download_buttons()

    def _update_download_buttons(self) -> None:
        state = self.state
        self.download_button.setEnabled(not self.downloading)
        self.url_edit.setReadOnly(self.downloading)
        self.sha_edit.setReadOnly(self.downloading)
        self.pause_button.setText(
            "Resume" if state in (DownloadState.PAUSED, DownloadState.FAILED) else "Pause"
        )
        self.pause_button.setEnabled(
            state in (DownloadState.RUNNING, DownloadState.PAUSED, DownloadState.FAILED)
        )
        self.cancel_button.setEnabled(state is not DownloadState.IDLE and not self._cancelling)
        for button in self.recommended_buttons.values():
            button.setEnabled(not self.downloading and button.property("installed") is not True)

    def _update_recommended(self) -> None:
        for entry in CATALOGUE:
            button = self.recommended_buttons[entry.file]
            final = self.models_folder / entry.file
            installed = final.exists()
            button.setProperty("installed", installed)
            if installed:
                button.setText("Downloaded")
            elif part_path(final).exists():
                button.setText("Continue")
            else:
                button.setText("Download")
        self._update_download_buttons()

    def _pause_clicked(self) -> None:
        if self.state is DownloadState.RUNNING:
            self.pause()
        else:
            self.resume()

    def _show_download_error(self, text: str) -> None:
        self.download_error.setText(text)
        self.download_error.show()

    def _clear_download_error(self) -> None:
        self.download_error.clear()
        self.download_error.hide()

    def stop_download(self) -> None:
        """Pause a running download without asking (closing, quitting); the part is kept."""
        if self.state is DownloadState.RUNNING and self._stop is not None:
            self._stop.set()
            self._set_state(DownloadState.STOPPING)

    def done(self, result: int) -> None:
        """Closing pauses a running download; Resume, or the same download, continues it."""
        self.stop_download()
        super().done(result)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return "less than a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"
