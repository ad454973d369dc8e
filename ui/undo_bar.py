"""“Forgot 3 memories. Undo”: taking back a destructive action, for a while.

Shown wherever such an action is done (the main window's status bar, the
memory manager); the core keeps what to put back, in memory only, for
:data:`~mneme.assistant.core.UNDO_SECONDS`, and this bar offers it for as long.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from mneme.assistant.core import UNDO_SECONDS

from .session import AppSession


class UndoBar(QWidget):
    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("undoBar")
        self.session = session
        self.label = QLabel(self)
        self.label.setObjectName("undoText")
        self.button = QPushButton("Undo", self)
        self.button.setObjectName("undo")
        self.button.setToolTip("Take it back: everything is put back as it was")
        self.button.clicked.connect(self._undo)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(UNDO_SECONDS * 1000))
        self._timer.timeout.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.button)
        session.undoOffered.connect(self.offer)
        session.undone.connect(self._taken)
        self.hide()

    def offer(self, done: str) -> None:
        self.label.setText(done)
        self.button.setEnabled(True)
        self.button.show()
        self.show()
        self._timer.start()

    def _undo(self) -> None:
        self.button.setEnabled(False)
        self.session.undo()

    def _taken(self, what: str) -> None:
        self.label.setText(what)
        self.button.hide()
        self._timer.start(5_000)  # the sentence stays a moment, then the bar goes
