"""The keys and tokens part of the settings: typed here, kept in the keyring, never shown again.

A stored secret is never read back into a widget; the panel only says that
one is saved and where. Reading what is stored and saving run off the UI
thread (a keyring may wait on a desktop service or an unlock prompt), which
is why the panel only shows a :class:`SecretsStatus` it is handed and
returns the changes for the dialog to save with :func:`save_secrets`.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.secrets import CHROMA_SERVER_TOKEN, MODEL_SERVER_KEY, Secrets

from .look import ERROR_STYLE, HELP_STYLE


@dataclass(frozen=True, slots=True)
class SecretField:
    name: str
    label: str
    description: str


SECRET_FIELDS = (
    SecretField(
        MODEL_SERVER_KEY,
        "Model server API key",
        "Sent to the model server (Model server tab) with every request.",
    ),
    SecretField(
        CHROMA_SERVER_TOKEN,
        "Chroma server token",
        "Sent to the Chroma server that keeps the memory (Memory tab).",
    ),
)

NO_KEYRING = (
    "No system keyring was found on this computer, so keys and tokens cannot be kept "
    "safely. Install and unlock one (for example GNOME Keyring or KWallet), or tick "
    '"Allow file fallback" above to keep them in a file readable only by you; that file '
    "is not encrypted."
)


@dataclass(frozen=True, slots=True)
class SecretsStatus:
    keyring: bool
    """A system keyring exists."""
    where: str
    """Where secrets are kept, in words (from :meth:`Secrets.describe`)."""
    stored: frozenset[str]
    """The names of the secrets that have a value; never the values."""


def read_status(secrets: Secrets) -> SecretsStatus:
    """Which secrets are stored (run off the UI thread: the keyring may be slow)."""
    stored = frozenset(f.name for f in SECRET_FIELDS if secrets.get(f.name))
    return SecretsStatus(secrets.keyring_available, secrets.describe(), stored)


def save_secrets(secrets: Secrets, changes: dict[str, str]) -> list[str]:
    """Store each value ("" removes it); raises SecretsUnavailableError with advice."""
    for name, value in changes.items():
        secrets.set(name, value)
    return list(changes)


class SecretEditor(QWidget):
    """A password field that is empty unless the person types a new value."""

    def __init__(self, field: SecretField, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = field
        self.setObjectName(f"secret:{field.name}")
        self.stored = False
        self.in_keyring = True
        self.remove_requested = False
        self.line = QLineEdit(self)
        self.line.setEchoMode(QLineEdit.EchoMode.Password)
        self.line.setToolTip(field.description)
        self.line.setAccessibleName(field.label)
        self.line.textChanged.connect(self._update)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setToolTip("Forget the stored value when you press OK")
        self.remove_button.clicked.connect(self._remove)
        self.state = QLabel("checking…", self)
        self.state.setStyleSheet(HELP_STYLE)
        self.error = QLabel("", self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.line, 1)
        row.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.state)
        layout.addWidget(self.error)
        self._update()

    def set_stored(self, stored: bool, *, in_keyring: bool) -> None:
        self.stored = stored
        self.in_keyring = in_keyring
        self.remove_requested = False
        self._update()

    def _remove(self) -> None:
        self.line.clear()
        self.remove_requested = True
        self._update()

    def change(self) -> str | None:
        """The new value, "" to remove the stored one, None to leave it as it is."""
        if self.line.text():
            return self.line.text()
        return "" if self.remove_requested else None

    def saved(self) -> None:
        value = self.change()
        self.line.clear()
        if value is not None:
            self.set_stored(bool(value), in_keyring=self.in_keyring)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def _update(self) -> None:
        where = "keyring" if self.in_keyring else "the private file"
        if self.line.text():
            text = "will be saved when you press OK"
        elif self.remove_requested:
            text = "will be removed when you press OK"
        elif self.stored:
            text = f"saved in {where}"
        else:
            text = "not set"
        self.state.setText(text)
        self.line.setPlaceholderText(
            f"saved in {where}; type to replace" if self.stored else "type to set"
        )
        self.remove_button.setEnabled(self.stored and not self.remove_requested)


class SecretsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editors = {f.name: SecretEditor(f, self) for f in SECRET_FIELDS}
        self.warning = QLabel(NO_KEYRING, self)
        self.warning.setObjectName("noKeyring")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(ERROR_STYLE)
        self.warning.hide()
        self.where = QLabel("", self)
        self.where.setWordWrap(True)
        self.where.setStyleSheet(HELP_STYLE)
        form = QFormLayout()
        for field in SECRET_FIELDS:
            form.addRow(field.label, self.editors[field.name])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.warning)
        layout.addLayout(form)
        layout.addWidget(self.where)
        self.status: SecretsStatus | None = None

    def show_status(self, status: SecretsStatus, *, needed: bool = True) -> None:
        """``needed``: a server is configured, so a missing keyring matters (otherwise
        there is nothing to keep and no warning to give)."""
        self.status = status
        self.warning.setVisible(not status.keyring and needed)
        self.where.setText(f"Keys and tokens are kept in: {status.where}.")
        for name, editor in self.editors.items():
            editor.set_stored(name in status.stored, in_keyring=status.keyring)

    def changes(self) -> dict[str, str]:
        return {
            name: value
            for name, editor in self.editors.items()
            if (value := editor.change()) is not None
        }

    def saved(self, names: list[str]) -> None:
        for name in names:
            self.editors[name].saved()
            self.editors[name].show_error("")

    def show_error(self, names: list[str], message: str) -> None:
        for name in names:
            self.editors[name].show_error(message)
        if self.status is not None and not self.status.keyring:
            self.warning.show()
