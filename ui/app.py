"""mneme: the desktop app.

Arguments are parsed before Qt or any model library is imported, so
``--help`` and ``--version`` answer at once and the window appears before the
heavy parts load (they load in the background, with their state shown).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    from mneme.assistant import __version__

    parser = argparse.ArgumentParser(
        prog="mneme",
        description="Mneme, an offline desktop assistant with a lifelong memory.",
        epilog="Data lives in the platform's user folders, or under $MNEME_HOME if set.",
    )
    parser.add_argument("--version", action="version", version=f"mneme {__version__}")
    parser.add_argument("--home", help="keep all data under this folder (like $MNEME_HOME)")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="debug logging (also $MNEME_DEBUG=1): the log may then hold what you write",
    )
    parser.add_argument(
        "--install-desktop-entry",
        action="store_true",
        help="add Mneme to your desktop's application menu (Linux) and exit",
    )
    parser.add_argument(
        "--uninstall-desktop-entry",
        action="store_true",
        help="remove Mneme from the application menu and exit",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.install_desktop_entry or args.uninstall_desktop_entry:
        from mneme.assistant.desktop_entry import run

        return run(remove=args.uninstall_desktop_entry)
    os.umask(0o077)  # everything Mneme writes is private to the user

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from mneme.assistant import logs
    from mneme.assistant.core import Assistant
    from mneme.assistant.desktop_entry import APP_ID, icon_files

    from .main_window import MainWindow
    from .session import AppSession
    from .theme import apply_theme
    from .welcome import WelcomeDialog

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("Mneme")
    app.setOrganizationName("Mneme")
    app.setDesktopFileName(APP_ID)  # so Wayland matches the window to the menu entry
    icon = QIcon()
    for path in icon_files():
        icon.addFile(str(path))
    app.setWindowIcon(icon)
    assistant = Assistant.from_environment(args.home)
    logs.setup(assistant.paths, debug=True if args.debug else None)
    session = AppSession(assistant)
    apply_theme(app, assistant.settings.ui)
    session.settingsApplied.connect(lambda s: apply_theme(app, s.ui))
    window = MainWindow(session)
    for warning in assistant.warnings:
        window.show_error(warning)
    window.show()
    if not assistant.settings.ui.first_run_done:
        welcome = WelcomeDialog(session, window)
        welcome.chooseModelRequested.connect(window.show_models)
        welcome.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        welcome.open()
    session.start()
    return int(app.exec())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
