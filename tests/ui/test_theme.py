"""Theme and text size: the palette and fonts really change, and "system" follows the OS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

from mneme.assistant.settings import UISettings
from mneme.ui.theme import apply_theme

Role = QPalette.ColorRole


@pytest.fixture
def app(qapp: QApplication) -> Iterator[QApplication]:
    """The app, put back as it was afterwards (other tests share it)."""
    font = qapp.font()
    yield qapp
    apply_theme(qapp, UISettings())
    qapp.setFont(font)


def lightness(widget_or_app: QWidget | QApplication, role: Role) -> int:
    return int(widget_or_app.palette().color(role).lightness())


def test_dark_and_light_recolour_the_app_and_new_widgets(app: QApplication, qtbot: QtBot) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    apply_theme(app, UISettings(theme="dark"))
    assert lightness(app, Role.Window) < 80
    qtbot.waitUntil(lambda: lightness(widget, Role.Window) < 80)  # delivered as an event
    assert lightness(widget, Role.Window) < 80
    assert lightness(widget, Role.WindowText) > 180

    apply_theme(app, UISettings(theme="light"))
    assert lightness(app, Role.Window) > 200
    qtbot.waitUntil(lambda: lightness(widget, Role.Window) > 200)
    assert lightness(widget, Role.WindowText) < 80


def test_font_size_applies_to_the_app_and_its_widgets(app: QApplication, qtbot: QtBot) -> None:
    label = QLabel("hello")
    qtbot.addWidget(label)
    apply_theme(app, UISettings(font_size=17))
    assert app.font().pointSize() == 17
    qtbot.waitUntil(lambda: label.font().pointSize() == 17)
    new = QLabel("new")
    qtbot.addWidget(new)
    assert new.font().pointSize() == 17
    apply_theme(app, UISettings(font_size=8))
    qtbot.waitUntil(lambda: label.font().pointSize() == 8)


def test_system_follows_the_os_scheme_as_it_changes(app: QApplication) -> None:
    hints = app.styleHints()
    apply_theme(app, UISettings(theme="dark"))
    assert lightness(app, Role.Window) < 80
    apply_theme(app, UISettings(theme="system"))
    # the offscreen platform reports no scheme: its own (light) palette is back
    assert hints.colorScheme() == Qt.ColorScheme.Unknown
    assert lightness(app, Role.Window) > 200

    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # the OS switched to dark
    assert lightness(app, Role.Window) < 80
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert lightness(app, Role.Window) > 200

    apply_theme(app, UISettings(theme="light"))  # a chosen theme ignores the OS
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert lightness(app, Role.Window) > 200
