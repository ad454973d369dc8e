"""The few shared looks of the app's text, and the one way it opens a folder.

Colours come from the palette where one fits, so the light and dark themes
both read well; the error red is chosen to read on either.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

ERROR_STYLE = "color: #d0342c;"
"""An error said next to what caused it."""
HELP_STYLE = "color: palette(placeholder-text);"
"""Explanations under a field, notes under a message."""

FolderOpener = Callable[[Path], object]
"""Opens a folder in the file manager; dialogs take one so tests can record instead."""


def open_in_file_manager(path: Path) -> bool:
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))


def as_sentence(text: str) -> str:
    """An error's text shown on its own: capitalised, ending in a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
