"""The frozen bundle's one program: ``mneme`` (the window) and ``mneme-cli``.

The two commands share every library, so on Linux and macOS the bundle holds one
executable and ``mneme-cli`` is a symbolic link to it: what it was started as
(``argv[0]``) chooses. On Windows the spec builds a second, console executable
from this same file, named ``mneme-cli.exe``, for the same choice.

One switch exists only here, for the bundle: ``--smoke-test`` opens the real
window, waits for the model and the memory, sends one message, waits for the
whole reply, closes and exits 0; prints one JSON line of timings.
``packaging/smoke.py`` runs it after every build. Everything else, including
``--install-desktop-entry`` for an unpacked tarball, is ``ui.app``'s.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

SMOKE_MESSAGE = "Hello! Please remember that my cat is called Miso."


def _smoke_test(argv: list[str]) -> int:
    """The window path end to end, driven from inside the frozen app."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    # The launcher passes the moment it started this process, so the times below
    # include the bundle's own start-up (unpacking nothing: it is one folder).
    started = float(os.environ.get("MNEME_SMOKE_LAUNCHED", time.time()))
    marks: dict[str, float] = {"launched": started, "python_started": time.time()}
    app = QApplication(sys.argv[:1])
    outcome: dict[str, object] = {}

    def fail(why: str) -> None:
        outcome["error"] = why
        app.exit(1)

    def send(window: object) -> None:
        from mneme.ui.session import PartState

        session = window.session  # type: ignore[attr-defined]

        def when_ready() -> None:
            if session.model_state is PartState.FAILED:
                fail("the bundled model did not load")
                return
            if session.model_state is not PartState.READY or (
                session.memory_state is PartState.LOADING
            ):
                QTimer.singleShot(20, when_ready)
                return
            if session.memory_state is not PartState.READY:
                fail(f"the memory did not open: {session.memory_state}")
                return
            marks["ready"] = time.time()

            def on_event(event: object) -> None:
                if type(event).__name__ == "Token" and "first_token" not in marks:
                    marks["first_token"] = time.time()

            def on_finished(reply: object) -> None:
                marks["finished"] = time.time()
                outcome["reply"] = getattr(reply, "text", "")
                outcome["memories_used"] = len(getattr(reply, "used", ()) or ())
                window.close()  # type: ignore[attr-defined]
                app.quit()

            session.replyEvent.connect(on_event)
            session.replyFinished.connect(on_finished)
            session.replyFailed.connect(lambda why: fail(f"the reply failed: {why}"))
            marks["sent"] = time.time()
            window.send(SMOKE_MESSAGE)  # type: ignore[attr-defined]

        when_ready()

    class FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and "window_shown" not in marks:
                from mneme.ui.main_window import MainWindow

                if isinstance(obj, MainWindow):
                    marks["window_shown"] = time.time()
                    QTimer.singleShot(0, lambda: send(obj))
            return False

    watcher = FirstPaint()
    app.installEventFilter(watcher)
    timeout_ms = int(float(os.environ.get("MNEME_SMOKE_TIMEOUT", "300")) * 1000)
    QTimer.singleShot(timeout_ms, lambda: fail("timed out"))
    from mneme.ui.app import main as app_main

    code = app_main(argv)

    def since(mark: str, start: str) -> float | None:
        if mark not in marks or start not in marks:
            return None
        return round(marks[mark] - marks[start], 3)

    result = {
        "exit_code": code,
        **outcome,
        "python_started_s": since("python_started", "launched"),
        "window_shown_s": since("window_shown", "launched"),
        "ready_s": since("ready", "launched"),
        "first_token_s": since("first_token", "sent"),
        "reply_s": since("finished", "sent"),
    }
    print(json.dumps(result), flush=True)
    if code == 0 and "error" in outcome:
        code = 1
    return code if code else (0 if outcome.get("reply") else 1)


def main() -> int:
    multiprocessing.freeze_support()
    args = sys.argv[1:]
    if Path(sys.argv[0]).name.lower().startswith("mneme-cli"):
        from mneme.assistant.cli import main as cli_main

        return cli_main(args)
    if args[:1] == ["--smoke-test"]:
        return _smoke_test(args[1:])
    from mneme.ui.app import main as app_main

    return app_main(args)


if __name__ == "__main__":
    sys.exit(main())
