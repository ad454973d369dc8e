"""Drive the real app through its screens and save a PNG of each.

    xvfb-run -s "-screen 0 1280x800x24" python -m ui.screenshots OUTDIR [--home DIR]

Uses a fresh data folder (or ``--home``) so the pictures show a first run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    home = args.home or Path(tempfile.mkdtemp(prefix="mneme-shots-"))

    from assistant.core import Assistant

    from .main_window import MainWindow
    from .session import AppSession, PartState

    app = QApplication.instance() or QApplication(sys.argv[:1])
    session = AppSession(Assistant.from_environment(home))
    window = MainWindow(session)
    window.resize(1200, 760)
    window.show()
    session.start()
    saved: list[Path] = []

    def shot(name: str) -> None:
        path = args.outdir / f"{name}.png"
        window.grab().save(str(path))
        saved.append(path)

    def when(cond: Callable[[], bool], then: Callable[[], None]) -> None:
        def poll() -> None:
            if cond():
                then()
            else:
                QTimer.singleShot(50, poll)

        poll()

    script = [
        "Hi! I'm Rosa. I grow tomatoes on my balcony in Lisbon.",
        "What vegetables would go well with tomatoes?",
    ]

    def step(i: int) -> None:
        if i == len(script):
            window.new_conversation()
            window.send("Where do I grow my tomatoes?")
            when(
                lambda: not session.generating and "Where do I" in window.chat_view.toPlainText(),
                lambda: QTimer.singleShot(300, finish),
            )
            return
        window.send(script[i])
        when(lambda: not session.generating, lambda: QTimer.singleShot(200, lambda: after(i)))

    def after(i: int) -> None:
        if i == 0:
            shot("01-first-reply")
        step(i + 1)

    def finish() -> None:
        shot("02-recall-in-new-conversation")
        window.close()
        app.quit()

    def start() -> None:
        shot("00-ready")
        step(0)

    when(
        lambda: session.model_state is PartState.READY and session.memory_state is PartState.READY,
        start,
    )
    app.exec()
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
