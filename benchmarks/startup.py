"""Launch-to-window and time-to-first-token of the real desktop app.

Each run starts a fresh process (``python -m benchmarks.startup --probe``) that
launches the app exactly as ``mneme`` does, with a fresh ``MNEME_HOME``; an
event filter notes the first paint of the main window, then the probe sends
one short message and notes the first streamed token. Reported: medians over
``--runs`` launches, measured from the parent's spawn of the process.

    python -m benchmarks.startup [--runs 5] [--json]

Set QT_QPA_PLATFORM=offscreen, or run under xvfb-run for a real X server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _probe() -> None:
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    marks: dict[str, float] = {}

    class FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and "shown" not in marks:
                from mneme.ui.main_window import MainWindow

                if isinstance(obj, MainWindow):
                    marks["shown"] = time.time()
                    QTimer.singleShot(0, lambda: send(obj))
            return False

    def send(window) -> None:  # type: ignore[no-untyped-def]
        from mneme.ui.session import PartState

        def go() -> None:
            if window.session.model_state is not PartState.READY:
                QTimer.singleShot(20, go)
                return
            if window.session.memory_state is PartState.LOADING:
                QTimer.singleShot(20, go)
                return
            marks["ready"] = time.time()

            def on_event(event: object) -> None:
                if type(event).__name__ == "Token" and "first_token" not in marks:
                    marks["first_token"] = time.time()

            window.session.replyEvent.connect(on_event)
            window.session.replyFinished.connect(lambda _: finish(window))
            marks["sent"] = time.time()
            window.send("Hello! How are you today?")

        go()

    def finish(window) -> None:  # type: ignore[no-untyped-def]
        print(json.dumps(marks), flush=True)
        window.close()
        app.quit()

    filt = FirstPaint()
    app.installEventFilter(filt)
    from mneme.ui.app import main

    main([])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        _probe()
        return 0
    shown, ready, ttft = [], [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "MNEME_HOME": home}
            started = time.time()
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.startup", "--probe"],
                capture_output=True,
                text=True,
                env=env,
                timeout=600,
                check=True,
            )
            marks = json.loads(out.stdout.strip().splitlines()[-1])
        shown.append(marks["shown"] - started)
        ready.append(marks["ready"] - started)
        ttft.append(marks["first_token"] - marks["sent"])
        if not args.json:
            print(
                f"run {i + 1}: window {shown[-1]:.2f}s, model+memory ready {ready[-1]:.2f}s, "
                f"first token {ttft[-1] * 1000:.0f} ms"
            )
    result = {
        "runs": args.runs,
        "window_shown_s": round(statistics.median(shown), 3),
        "ready_s": round(statistics.median(ready), 3),
        "ttft_s": round(statistics.median(ttft), 3),
        "platform": os.environ.get("QT_QPA_PLATFORM", "default"),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
