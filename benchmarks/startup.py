"""Launch-to-window, time to usable, first search and first token of the real desktop app.

Each run starts a fresh process (``python -m benchmarks.startup --probe``) that
launches the app exactly as ``mneme`` does, on its own copy of a data folder
(empty, or ``--memories N`` memories in ``--conversations`` conversations);
an event filter notes the first paint of the main window. From then the probe
watches for the window to be *usable*: the conversation list shown and the
last conversation open in the chat (what a returning person looks for). Then
it searches the memory from the memory manager, and notes when the results
arrive (*first search*: the embedding model loads behind the window), then
sends one short message and notes the first streamed token. Reported: medians
over ``--runs`` launches, measured from the parent's spawn of the process.

    python -m benchmarks.startup [--runs 5] [--memories 100000] [--json]

The folder of ``--memories`` is built once (in ``--cache``) through the store's
API, with random unit vectors under MiniLM's name instead of real embeddings:
opening and listing do not depend on what the vectors are, and 100,000 real
embeddings would take twenty minutes on two cores.

Set QT_QPA_PLATFORM=offscreen, or run under xvfb-run for a real X server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

_WATCH_USABLE = "MNEME_STARTUP_WATCH_USABLE"
"""Set for the probe when the folder has conversations to show (what "usable" waits for)."""


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
                    QTimer.singleShot(0, lambda: send(obj))  # type: ignore[no-untyped-call]
            return False

    def send(window) -> None:  # type: ignore[no-untyped-def]
        from mneme.ui.session import PartState

        def usable() -> None:
            listed = window.conversations.count() > 0
            if not listed or window.chat_view.is_empty():
                if "usable" not in marks and window.session.memory_state is PartState.FAILED:
                    marks["usable"] = marks["first_search"] = float("nan")
                    go()
                    return
                QTimer.singleShot(20, usable)
                return
            marks["usable"] = time.time()
            search()

        def search() -> None:
            manager = window.show_memories()

            def found(_: int) -> None:
                marks["first_search"] = time.time()
                manager.searchFinished.disconnect(found)
                if window.memory_dialog is not None:
                    window.memory_dialog.hide()
                go()

            manager.searchFinished.connect(found)
            manager.search.setText("what did we talk about")
            manager.run_search()

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

        if os.environ.get(_WATCH_USABLE) and window.session.memory_state is not PartState.FAILED:
            usable()
        else:
            go()

    def finish(window) -> None:  # type: ignore[no-untyped-def]
        print(json.dumps(marks), flush=True)
        window.close()
        app.quit()

    filt = FirstPaint()
    app.installEventFilter(filt)
    from mneme.ui.app import main

    main([])


def build_home(home: Path, memories: int, conversations: int) -> Path:
    """A data folder with ``memories`` turns (random unit vectors under MiniLM's name),
    made once and kept; the benchmark runs on copies of it."""
    from mneme.memory import MemoryStore, NewEpisode, SentenceTransformerEmbedder

    if (home / "built").exists():
        # a folder built by an earlier version is upgraded once, as a person's is at
        # their first start after an update: runs time opening, not the upgrade
        MemoryStore.open(
            home / "data" / "memory", SentenceTransformerEmbedder(), connect=False
        ).close()
        return home
    import numpy as np

    from benchmarks.scale import sentences

    class RandomVectors:
        name = SentenceTransformerEmbedder().name
        dimension = 384

        def __init__(self) -> None:
            self.rng = np.random.default_rng(1)

        def embed(self, texts: Sequence[str]) -> list[list[float]]:
            vectors = self.rng.normal(size=(len(texts), self.dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            rows: list[list[float]] = vectors.tolist()
            return rows

    shutil.rmtree(home, ignore_errors=True)
    (home / "config").mkdir(parents=True)
    settings = {"version": 2, "ui": {"first_run_done": True}}
    (home / "config" / "settings.json").write_text(json.dumps(settings))
    texts = sentences(memories, seed=memories)
    per = max(1, memories // conversations)
    start = time.time() - 2 * 365 * 86_400
    print(f"building a folder of {memories:,} memories (once)…", file=sys.stderr)
    with MemoryStore.open(home / "data" / "memory", RandomVectors()) as store:
        for i in range(0, memories, 1000):
            store.add_episodes(
                [
                    NewEpisode(
                        t, ("user", "assistant")[j % 2], f"conv-{j // per}", said_at=start + j
                    )
                    for j, t in enumerate(texts[i : i + 1000], start=i)
                ]
            )
        for c in range(conversations):
            store.set_conversation_title(f"conv-{c}", f"Conversation {c}")
    (home / "built").touch()
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--memories", type=int, default=0, help="start on a folder this full")
    parser.add_argument("--conversations", type=int, default=2500)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mneme-bench")
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        _probe()
        return 0
    source = (
        build_home(args.cache / f"startup-{args.memories}", args.memories, args.conversations)
        if args.memories
        else None
    )
    shown, usable, search, ready, ttft = [], [], [], [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            if source is not None:
                shutil.copytree(source, home)
            env = {**os.environ, "MNEME_HOME": str(home)}
            if source is not None:
                env[_WATCH_USABLE] = "1"
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
        if "usable" in marks:
            usable.append(marks["usable"] - started)
            search.append(marks["first_search"] - started)
        if not args.json:
            more = f"usable {usable[-1]:.2f}s, first search {search[-1]:.2f}s, " if usable else ""
            print(
                f"run {i + 1}: window {shown[-1]:.2f}s, {more}model+memory ready "
                f"{ready[-1]:.2f}s, first token {ttft[-1] * 1000:.0f} ms"
            )
    result = {
        "runs": args.runs,
        "memories": args.memories,
        "window_shown_s": round(statistics.median(shown), 3),
        "usable_s": round(statistics.median(usable), 3) if usable else None,
        "first_search_s": round(statistics.median(search), 3) if search else None,
        "ready_s": round(statistics.median(ready), 3),
        "ttft_s": round(statistics.median(ttft), 3),
        "platform": os.environ.get("QT_QPA_PLATFORM", "default"),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
