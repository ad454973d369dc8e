"""The settings dialog, generated from the typed schema in ``assistant.settings``.

One tab per section, one editor per field (see ``ui/settings_fields.py``), so
a field added to the schema shows up here without touching this file. OK
checks the whole result with the schema first: a refused value is shown next
to its field and nothing is saved or lost. Keys and tokens go to the keyring,
never to the settings file; the data folders are shown so the person knows
where everything is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.secrets import Secrets, SecretsUnavailableError
from mneme.assistant.settings import Settings, SettingsError, updated

from .core_op import CoreOp, Failure
from .look import ERROR_STYLE, HELP_STYLE, FolderOpener, as_sentence, open_in_file_manager
from .secrets_panel import SecretsPanel, SecretsStatus, read_status, save_secrets
from .session import AppSession
from .settings_fields import FieldEditor, Section, editor_for, lookup, schema_sections

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant

EVERYDAY_SECTION = "everyday"
TAB_TITLES = {
    EVERYDAY_SECTION: "Everyday",
    "": "General",
    "model": "Model",
    "generation": "Replies",
    "server": "Model server",
    "memory": "Memory",
    "chat": "Chat",
    "ui": "Appearance",
    "secrets": "Keys",
}
SECRETS_SECTION = "secrets"
DATA_TAB = "Data folder"


def _retention_warning(old: Any, new: Any) -> str | None:
    if new is None or (old is not None and new >= old):
        return None
    return (
        f"Chat turns older than {new} days will be deleted at the next consolidation "
        "(the run can be undone from Memory consolidation). Keep this setting?"
    )


CONFIRM: dict[str, Callable[[Any, Any], str | None]] = {
    "memory.episode_retention_days": _retention_warning,
}
"""Changes that lead to deletion: (old, new) → the question to ask, or None."""


def _everyday_first(sections: list[Section]) -> list[Section]:
    """The everyday settings in a section of their own, first; the rest where they were."""
    everyday = tuple(spec for section in sections for spec in section.fields if spec.everyday)
    rest = [
        Section(s.name, s.model, tuple(f for f in s.fields if not f.everyday)) for s in sections
    ]
    first = Section(EVERYDAY_SECTION, None, everyday)
    return [first, *(s for s in rest if s.fields)]


class SettingsDialog(QDialog):
    """Edit and apply the settings; stays open, with everything typed kept, until they apply.

    ``open_folder`` opens a folder in the file manager (injectable for tests).
    """

    def __init__(
        self,
        session: AppSession,
        parent: QWidget | None = None,
        *,
        open_folder: FolderOpener = open_in_file_manager,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.session = session
        self.open_folder = open_folder
        self.sections = _everyday_first(schema_sections())
        self.editors: dict[str, FieldEditor] = {}
        self.errors: dict[str, QLabel] = {}
        self.tab_of: dict[str, int] = {}
        self.reset_buttons: dict[str, QPushButton] = {}
        self.folder_buttons: dict[str, QPushButton] = {}
        self._extra_layouts: dict[str, QVBoxLayout] = {}
        self._pending: Settings | None = None
        """Settings to apply once the keys are saved."""
        self._waiting = False
        """Connected to the session's settingsApplied/settingsFailed."""
        self.busy = False

        self.tabs = QTabWidget(self)
        for section in self.sections:
            self._add_section(section)
        self.secrets_panel = SecretsPanel(self)
        self._extras(SECRETS_SECTION).addWidget(self.secrets_panel)
        self.model_trust = QLabel("", self)
        self.model_trust.setObjectName("modelTrust")
        self.model_trust.setWordWrap(True)
        self.model_trust.setStyleSheet(HELP_STYLE)
        self._extras("memory").addWidget(self.model_trust)
        self._add_data_tab()
        self.advanced = QCheckBox("Show advanced settings", self)
        self.advanced.setObjectName("showAdvanced")
        self.advanced.setToolTip("The model, how replies are worded, servers and keys")
        self.advanced.toggled.connect(self._show_advanced)
        self._show_advanced(False)

        self.status = QLabel("", self)
        self.status.setObjectName("settingsStatus")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.advanced)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.status)
        layout.addLayout(bottom)
        self.resize(780, 600)
        self.load(session.settings)
        self.refresh_secrets()
        self.refresh_model_trust()

    # -- building -----------------------------------------------------------------------

    def _add_section(self, section: Section) -> None:
        page = QWidget()
        page.setObjectName(f"section:{section.name}")
        outer = QVBoxLayout(page)
        if section.description:
            intro = QLabel(section.description, page)
            intro.setWordWrap(True)
            outer.addWidget(intro)
        form = QFormLayout()
        for spec in section.fields:
            editor = editor_for(spec, page)
            help_text = QLabel(spec.description, page)
            help_text.setWordWrap(True)
            help_text.setStyleSheet(HELP_STYLE)
            help_text.setVisible(bool(spec.description))
            error = QLabel("", page)
            error.setObjectName(f"error:{spec.dotted}")
            error.setWordWrap(True)
            error.setStyleSheet(ERROR_STYLE)
            error.hide()
            cell = QVBoxLayout()
            cell.setSpacing(2)
            cell.addWidget(editor)
            cell.addWidget(help_text)
            cell.addWidget(error)
            label = QLabel(spec.label, page)
            label.setBuddy(editor.input)
            label.setToolTip(spec.description)
            form.addRow(label, cell)
            self.editors[spec.dotted] = editor
            self.errors[spec.dotted] = error
        outer.addLayout(form)
        self._extra_layouts[section.name] = QVBoxLayout()
        outer.addLayout(self._extra_layouts[section.name])
        reset = QPushButton("Reset to defaults", page)
        reset.setToolTip("Put this tab's defaults back (saved when you press OK)")
        reset.clicked.connect(lambda: self.reset_section(section.name))
        self.reset_buttons[section.name] = reset
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(reset)
        outer.addStretch(1)
        outer.addLayout(row)
        index = self.tabs.addTab(self._scrolled(page), TAB_TITLES.get(section.name, ""))
        if not self.tabs.tabText(index):
            self.tabs.setTabText(index, section.name.replace("_", " ").capitalize())
        for spec in section.fields:
            self.tab_of[spec.dotted] = index
        self.tab_of[section.name] = index

    def _scrolled(self, page: QWidget) -> QScrollArea:
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(page)
        return scroll

    def _extras(self, name: str) -> QVBoxLayout:
        """Where a section's non-schema widgets go (a tab of their own if the schema lacks it)."""
        if name not in self._extra_layouts:
            page = QWidget()
            self._extra_layouts[name] = QVBoxLayout(page)
            self.tab_of[name] = self.tabs.addTab(self._scrolled(page), TAB_TITLES.get(name, name))
        return self._extra_layouts[name]

    def _add_data_tab(self) -> None:
        page = QWidget()
        layout = QVBoxLayout(page)
        intro = QLabel(
            "Everything Mneme keeps stays in these folders on this computer: no account, "
            "no cloud. Back them up to keep your memories safe.",
            page,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        paths = self.session.assistant.paths
        for key, title, folder in (
            ("data", "Memories and models", paths.data),
            ("config", "Settings", paths.config),
            ("logs", "Logs", paths.logs),
        ):
            shown = QLineEdit(str(folder), page)
            shown.setReadOnly(True)
            shown.setObjectName(f"folder:{key}")
            button = QPushButton("Open folder", page)
            button.setObjectName(f"open:{key}")
            button.clicked.connect(lambda _=False, f=folder: self.open_folder(f))
            self.folder_buttons[key] = button
            row = QHBoxLayout()
            row.addWidget(shown, 1)
            row.addWidget(button)
            form.addRow(title, row)
        layout.addLayout(form)
        layout.addStretch(1)
        self.tab_of[DATA_TAB] = self.tabs.addTab(page, DATA_TAB)

    # -- values -------------------------------------------------------------------------

    def load(self, settings: Settings) -> None:
        for dotted, editor in self.editors.items():
            editor.set_value(lookup(settings, dotted))

    def reset_section(self, name: str) -> None:
        for section in self.sections:
            if section.name == name:
                for spec in section.fields:
                    self.editors[spec.dotted].set_value(spec.default)

    def changes(self) -> dict[str, Any]:
        """Dotted paths whose editor differs from the settings in use."""
        current = self.session.settings
        return {
            dotted: value
            for dotted, editor in self.editors.items()
            if (value := editor.value()) != lookup(current, dotted)
        }

    def _show_advanced(self, shown: bool) -> None:
        """Everyday settings and the data folder always; the rest when asked for."""
        always = {self.tab_of[EVERYDAY_SECTION], self.tab_of[DATA_TAB]}
        for index in range(self.tabs.count()):
            self.tabs.setTabVisible(index, shown or index in always)

    def show_tab(self, key: str) -> None:
        """Bring the tab of a setting (or section) forward, showing advanced ones if need be."""
        index = self.tab_of[key]
        if not self.tabs.isTabVisible(index):
            self.advanced.setChecked(True)
        self.tabs.setCurrentIndex(index)

    def refresh_secrets(self) -> None:
        CoreOp(
            self.session,
            lambda core: read_status(core.secrets),
            parent=self,
            name="read secrets status",
            needs=(),
        ).success(self._secrets_status).run()

    def refresh_model_trust(self) -> None:
        """Say what the model may write into memory now, and why (the saved settings)."""
        CoreOp(
            self.session,
            lambda core: core.consolidation.trust().explain(),
            parent=self,
            name="read what the model writes",
            needs=(),
        ).success(self.model_trust.setText).failure(
            lambda failure: self.model_trust.setText("")
        ).run()

    def _secrets_status(self, status: SecretsStatus) -> None:
        current = self.session.settings
        needed = current.server.enabled or bool(current.memory.server_url)
        self.secrets_panel.show_status(status, needed=needed)

    # -- errors ---------------------------------------------------------------------------

    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.hide()
        for editor in self.secrets_panel.editors.values():
            editor.show_error("")
        self.show_status("")

    def show_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(ERROR_STYLE if error else "")

    def show_field_error(self, dotted: str, reason: str) -> None:
        """Say why next to the field and bring its tab forward."""
        label = self.errors.get(dotted)
        if label is None:
            self.show_status(as_sentence(f"{dotted}: {reason}"), error=True)
            return
        editor = self.editors[dotted]
        self.show_tab(dotted)
        label.setText(as_sentence(reason))
        label.show()
        editor.input.setFocus()
        self.show_status(f'"{editor.spec.label}" was not accepted; nothing was saved.', error=True)

    # -- OK ------------------------------------------------------------------------------

    def accept(self) -> None:
        if self.busy:
            return
        self.clear_errors()
        changes = self.changes()
        try:
            new = updated(self.session.settings, changes)
        except SettingsError as exc:
            self.show_field_error(exc.field, exc.reason)
            return
        if not self._confirmed(changes):
            return
        secret_changes = self.secrets_panel.changes()
        self._set_busy(True)
        if not secret_changes:
            self._apply(new)
            return
        allow_file = new.secrets.allow_file_fallback
        self._pending = new

        def save(core: Assistant) -> list[str]:  # with the fallback choice being saved
            secrets = Secrets(core.secrets.fallback_file, allow_file=allow_file)
            return save_secrets(secrets, secret_changes)

        CoreOp(self.session, save, parent=self, name="save secrets", needs=()).success(
            self._secrets_saved
        ).failure(self._secrets_failed).run()

    def _confirmed(self, changes: dict[str, Any]) -> bool:
        current = self.session.settings
        for dotted, question in CONFIRM.items():
            if dotted not in changes:
                continue
            text = question(lookup(current, dotted), changes[dotted])
            if text is None:
                continue
            answer = QMessageBox.question(self, "Delete old chat turns?", text)
            if answer != QMessageBox.StandardButton.Yes:
                self.show_tab(dotted)
                return False
        return True

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.ok_button.setEnabled(not busy)
        if busy:
            self.show_status("Saving…")

    def _secrets_saved(self, names: list[str]) -> None:
        self.secrets_panel.saved(names)
        new, self._pending = self._pending, None
        if new is not None:
            self._apply(new)

    def _secrets_failed(self, why: Failure) -> None:
        self._pending = None
        self._set_busy(False)
        names = list(self.secrets_panel.changes())
        message = as_sentence(str(why.error or why))
        if not isinstance(why.error, SecretsUnavailableError):
            message = f"The key could not be saved: {why.error or why}"
        self.secrets_panel.show_error(names, message)
        self.show_tab(SECRETS_SECTION)
        fallback = self.editors.get(f"{SECRETS_SECTION}.allow_file_fallback")
        if fallback is not None and not fallback.value():
            fallback.input.setFocus()
        self.show_status("The keys were not saved; no setting was changed.", error=True)

    def _apply(self, new: Settings) -> None:
        if new == self.session.settings:
            self._set_busy(False)
            self.show_status("")
            super().accept()
            return
        self._waiting = True
        self.session.settingsApplied.connect(self._applied)
        self.session.settingsFailed.connect(self._failed)
        self.session.apply_settings(new)

    def _stop_waiting(self) -> None:
        if self._waiting:
            self._waiting = False
            self.session.settingsApplied.disconnect(self._applied)
            self.session.settingsFailed.disconnect(self._failed)

    def _applied(self, settings: Settings) -> None:
        self._stop_waiting()
        self._set_busy(False)
        self.show_status("")
        super().accept()

    def _failed(self, message: str) -> None:
        self._stop_waiting()
        self._set_busy(False)
        self.show_status(as_sentence(message), error=True)

    def reject(self) -> None:
        """Closed while saving: what was sent on goes on, nothing more is started."""
        self._pending = None
        self._stop_waiting()
        self.busy = False
        super().reject()
