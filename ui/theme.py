"""Colour theme and text size of the whole app, from ``ui.theme`` and ``ui.font_size``.

Light and dark are first asked of the platform (``QStyleHints.setColorScheme``,
Qt 6.8+), so native styles draw themselves in that scheme. Platforms that
ignore the request (many Linux desktops, the offscreen platform) leave the
palette as it was; then Fusion with an explicit palette is used, which looks
the same everywhere. "system" gives the platform its own style and palette
back and follows the OS as it changes (``colorSchemeChanged``), again with the
Fusion palette only where the platform does not recolour itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from mneme.assistant.settings import UISettings

Role = QPalette.ColorRole
Group = QPalette.ColorGroup

_SCHEMES = {
    "light": Qt.ColorScheme.Light,
    "dark": Qt.ColorScheme.Dark,
    "system": Qt.ColorScheme.Unknown,
}


@dataclass(slots=True)
class _ThemeState:
    """What the app looked like before Mneme changed it, and which theme is in use."""

    native_style: str
    theme: str = "system"
    applied: str | None = None
    """The theme the colours were last set for (re-setting them makes the window flicker)."""
    following: bool = False


_state: _ThemeState | None = None


def is_dark(palette: QPalette) -> bool:
    return palette.color(Role.Window).lightness() < 128


def _palette(
    window: str, base: str, alternate: str, text: str, button: str, disabled: str, link: str
) -> QPalette:
    p = QPalette()
    colours = {
        Role.Window: window,
        Role.WindowText: text,
        Role.Base: base,
        Role.AlternateBase: alternate,
        Role.ToolTipBase: base,
        Role.ToolTipText: text,
        Role.PlaceholderText: disabled,
        Role.Text: text,
        Role.Button: button,
        Role.ButtonText: text,
        Role.BrightText: "#ff5555",
        Role.Highlight: "#2a82da",
        Role.HighlightedText: "#ffffff",
        Role.Link: link,
        Role.LinkVisited: link,
    }
    for role, colour in colours.items():
        p.setColor(role, QColor(colour))
    for role in (Role.WindowText, Role.Text, Role.ButtonText):
        p.setColor(Group.Disabled, role, QColor(disabled))
    return p


def dark_palette() -> QPalette:
    return _palette("#2b2b2b", "#1e1e1e", "#323232", "#e6e6e6", "#353535", "#7f7f7f", "#6cb4ff")


def light_palette() -> QPalette:
    return _palette("#efefef", "#ffffff", "#f5f5f5", "#1a1a1a", "#e8e8e8", "#9a9a9a", "#0b62c4")


def _use_fusion(app: QApplication, dark: bool) -> None:
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(dark_palette() if dark else light_palette())


def _use_native(app: QApplication, state: _ThemeState) -> None:
    if app.style().name().lower() != state.native_style.lower():
        app.setStyle(state.native_style)
    app.setPalette(QPalette())  # an empty palette: the platform's own, which follows the OS


def _request_scheme(app: QApplication, scheme: Qt.ColorScheme) -> None:
    hints = app.styleHints()
    if hasattr(hints, "setColorScheme"):  # Qt 6.8+
        hints.setColorScheme(scheme)


def _follow_system(app: QApplication, state: _ThemeState, scheme: Qt.ColorScheme) -> None:
    _use_native(app, state)
    if scheme == Qt.ColorScheme.Dark and not is_dark(app.palette()):
        _use_fusion(app, dark=True)
    elif scheme == Qt.ColorScheme.Light and is_dark(app.palette()):
        _use_fusion(app, dark=False)


def _connect_system_changes(app: QApplication, state: _ThemeState) -> None:
    if state.following:
        return
    state.following = True

    def changed(scheme: Qt.ColorScheme) -> None:
        if state.theme == "system":
            _follow_system(app, state, scheme)

    app.styleHints().colorSchemeChanged.connect(changed)


def _apply_colours(app: QApplication, state: _ThemeState, theme: str) -> None:
    scheme = _SCHEMES.get(theme, Qt.ColorScheme.Unknown)
    _request_scheme(app, scheme)
    if theme == "system":
        _follow_system(app, state, app.styleHints().colorScheme())
        return
    _use_native(app, state)
    wanted_dark = scheme == Qt.ColorScheme.Dark
    if is_dark(app.palette()) != wanted_dark:  # the platform did not recolour
        _use_fusion(app, dark=wanted_dark)


def apply_theme(app: QApplication, ui: UISettings) -> None:
    """Use ``ui.theme`` and ``ui.font_size`` everywhere; call again whenever they change."""
    global _state
    if _state is None:
        _state = _ThemeState(native_style=app.style().name())
    state = _state
    state.theme = ui.theme
    _connect_system_changes(app, state)
    if state.applied != ui.theme:
        _apply_colours(app, state, ui.theme)
        state.applied = ui.theme
    font = app.font()
    if font.pointSize() != ui.font_size:
        font.setPointSize(ui.font_size)
        app.setFont(font)
