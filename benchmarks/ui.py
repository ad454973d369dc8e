"""Does the window keep responding? Event-loop stalls of the real app, and its cold start.

    python -m benchmarks.ui [--memories 100000] [--keep DIR] [--json]

A repeating 10 ms timer runs in the real app (``AppSession`` + ``MainWindow``,
SmolLM2, MiniLM, a store of ``--memories`` synthetic memories built the way
``benchmarks.scale`` builds them); each tick notes the time, and a stall is
how much later than 10 ms a tick came. Three phases, one after another:

* stream: a reply of up to 200 tokens is streamed into the chat;
* consolidate: a consolidation run of every conversation, stopped after 30 s;
* page: the memory manager opens on all memories and its table is scrolled
  to 60 random places (each waiting until the rows there are loaded), then
  sorted and filtered.

Cold start: ``mneme`` launched in a fresh process on a fresh data folder,
from spawn to the first paint of the main window; median of ``--cold-runs``.
The JSON line has ``p99_stall_ms``, ``worst_stall_ms`` (over all phases),
``cold_start_s`` and the same per phase. Targets: p99 < 50 ms, worst < 200 ms,
cold start < 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TICK_MS = 10


def _probe_cold_start() -> None:
    """Child mode: launch the app as ``mneme`` does; print when its window first paints."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])

    class FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and type(obj).__name__ == "MainWindow":
                print(json.dumps({"shown": time.time()}), flush=True)
                os._exit(0)  # the model may still be loading; nothing to wait for
            return False

    watcher = FirstPaint()
    app.installEventFilter(watcher)
    from mneme.ui.app import main

    main([])


def cold_start(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "MNEME_HOME": home}
            started = time.time()
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.ui", "--probe-cold-start"],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
                check=True,
            )
            times.append(json.loads(out.stdout.strip().splitlines()[-1])["shown"] - started)
    return times


def build_home(home: Path, memories: int) -> None:
    """A data folder holding ``memories`` synthetic memories (kept for the next run)."""
    from benchmarks.scale import CachedEmbedder, build
    from mneme.memory import SentenceTransformerEmbedder

    settings = {
        "version": 2,
        "model": {"threads": 2, "context_length": 2048, "seed": 7},
        "generation": {"max_tokens": 200},
        "ui": {"first_run_done": True},
        "memory": {"auto_consolidate": False},
    }
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "settings.json").write_text(json.dumps(settings))
    if (home / "data" / "memory").exists():
        return
    inner = SentenceTransformerEmbedder(threads=2)
    inner.load()
    cache = Path(tempfile.gettempdir()) / "mneme-bench"
    store, seconds = build(memories, CachedEmbedder(inner, cache), home / "data" / "memory")
    store.close()
    print(f"built {memories:,} memories in {seconds:.0f} s", file=sys.stderr)


class StallMeter:
    """Ticks every 10 ms on the UI thread; a late tick is a stall of the event loop."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.stalls: list[float] = []
        self._last = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last:
            self.stalls.append(max(0.0, (now - self._last) * 1000 - TICK_MS))
        self._last = now

    def start(self) -> None:
        self.stalls = []
        self._last = 0.0
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return self.stalls


def summary(stalls: list[float]) -> dict[str, Any]:
    ordered = sorted(stalls) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "ticks": len(stalls),
        "p99_stall_ms": round(p99, 1),
        "worst_stall_ms": round(ordered[-1], 1),
        "stalls": stalls,
    }


def wait(cond: Callable[[], bool], timeout_s: float) -> bool:
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.002)
    return True


def measure_stalls(home: Path, consolidate_s: float, scrolls: int) -> dict[str, Any]:
    os.environ["MNEME_HOME"] = str(home)
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from mneme.assistant.core import Assistant
    from mneme.memory import Kind, ListQuery, State
    from mneme.ui.main_window import MainWindow
    from mneme.ui.memory_manager import MemoryManager
    from mneme.ui.memory_table import Column
    from mneme.ui.session import AppSession, PartState

    app = QApplication.instance() or QApplication(sys.argv[:1])
    session = AppSession(Assistant.from_environment())
    window = MainWindow(session)
    window.show()
    session.start()

    def ready() -> bool:
        return session.model_state is PartState.READY and session.store is not None

    if not wait(ready, 300):
        raise SystemExit(
            f"the app did not load: model {session.model_state}, memory {session.memory_state}"
        )
    wait(lambda: not session.operations.busy, 30)
    meter = StallMeter()
    phases: dict[str, Any] = {}

    # 1. a streamed reply
    done: list[object] = []
    session.replyFinished.connect(done.append)
    meter.start()
    window.send("Tell me a story about a lighthouse keeper and a storm.")
    wait(lambda: bool(done), 300)
    wait(lambda: not session.generating, 30)
    phases["stream"] = {
        **summary(meter.stop()),
        "tokens": getattr(done[0], "pieces", 0) if done else 0,
    }

    # 2. consolidation, stopped after a while
    finished: list[object] = []
    session.consolidationFinished.connect(finished.append)
    meter.start()
    started = session.consolidate(everything=True)
    wait(lambda: bool(finished), consolidate_s)
    session.stop_consolidation()
    wait(lambda: bool(finished) or not started, 120)
    phases["consolidate"] = {**summary(meter.stop()), "seconds": consolidate_s}

    # 3. the memory manager paging through every memory
    manager = MemoryManager(session)
    manager.resize(1100, 700)
    manager.show()
    meter.start()
    model, table = manager.model, manager.table
    wait(lambda: model.total > 0 and not model.loading, 60)
    total = model.total
    rng = random.Random(7)
    bar = table.verticalScrollBar()
    waits = []
    for _ in range(scrolls):
        bar.setValue(rng.randint(0, bar.maximum()))
        began = time.perf_counter()
        row = table.rowAt(table.viewport().height() // 2)
        wait(lambda r=row: r < 0 or model.memory_at(r) is not None, 10)  # type: ignore[misc]
        waits.append(time.perf_counter() - began)
    table.sortByColumn(int(Column.IMPORTANCE), Qt.SortOrder.DescendingOrder)
    wait(lambda: not model.loading, 30)
    model.set_query(ListQuery(kinds=(Kind.EPISODE,), states=(State.ACTIVE,)))
    wait(lambda: not model.loading, 30)
    phases["page"] = {
        **summary(meter.stop()),
        "rows": total,
        "scrolls": scrolls,
        "rows_shown_median_ms": round(statistics.median(waits) * 1000, 1),
    }
    manager.close()
    window.close()
    app.processEvents()
    return phases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="build the data folder here once and reuse it")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--consolidate-seconds", type=float, default=30.0)
    parser.add_argument("--scrolls", type=int, default=60)
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    parser.add_argument("--probe-cold-start", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe_cold_start:
        _probe_cold_start()
        return 0
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    colds = cold_start(args.cold_runs)
    home = args.keep or Path(tempfile.mkdtemp(prefix="mneme-ui-bench-"))
    build_home(home, args.memories)
    phases = measure_stalls(home, args.consolidate_seconds, args.scrolls)
    overall = summary([s for p in phases.values() for s in p.pop("stalls")])
    result = {
        "p99_stall_ms": overall["p99_stall_ms"],
        "worst_stall_ms": overall["worst_stall_ms"],
        "ticks": overall["ticks"],
        "cold_start_s": round(statistics.median(colds), 3),
        "cold_start_runs_s": [round(c, 3) for c in colds],
        "memories": args.memories,
        "phases": phases,
        "platform": os.environ.get("QT_QPA_PLATFORM", "default"),
    }
    if not args.json:
        for name, p in phases.items():
            print(
                f"{name:12} p99 {p['p99_stall_ms']:6.1f} ms, "
                f"worst {p['worst_stall_ms']:6.1f} ms, {p['ticks']} ticks"
            )
        print(
            f"cold start (spawn to first paint): median {result['cold_start_s']:.2f} s of {colds}"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
