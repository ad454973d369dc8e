"""mneme: the desktop app.

Arguments are parsed before Qt or any model library is imported, so
``--help`` and ``--version`` answer at once and the window appears before the
heavy parts load (they load in the background, with their state shown).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    from assistant import __version__

    parser = argparse.ArgumentParser(
        prog="mneme",
        description="Mneme, an offline desktop assistant with a lifelong memory.",
        epilog="Data lives in the platform's user folders, or under $MNEME_HOME if set.",
    )
    parser.add_argument("--version", action="version", version=f"mneme {__version__}")
    parser.add_argument("--home", help="keep all data under this folder (like $MNEME_HOME)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.umask(0o077)  # everything Mneme writes is private to the user

    from PySide6.QtWidgets import QApplication

    from assistant.core import Assistant

    from .main_window import MainWindow
    from .session import AppSession

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Mneme")
    app.setOrganizationName("Mneme")
    assistant = Assistant.from_environment(args.home)
    session = AppSession(assistant)
    window = MainWindow(session)
    for warning in assistant.warnings:
        window.show_error(warning)
    window.show()
    session.start()
    return int(app.exec())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
