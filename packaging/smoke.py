"""The frozen bundle's smoke test: does what was built actually work, offline?

Runs the programs in ``dist/mneme/`` (never the source tree: no ``PYTHONPATH``,
no venv in the environment, a temporary folder as the working directory), each
with a fresh temporary ``MNEME_HOME``:

1. ``mneme --version`` and ``mneme-cli --version`` answer (and how fast);
2. ``mneme-cli doctor --json``: the bundled model loads, the memory opens with
   the bundled embedder, and package metadata is inside;
3. ``mneme --smoke-test`` with ``QT_QPA_PLATFORM=offscreen``: the real window
   opens, the bundled SmolLM2 answers one message, the app closes and exits 0;
   then ``mneme-cli memory list`` finds that exchange in the memory it wrote;
4. ``mneme-cli ask`` answers in the terminal and remembers the turn too.

Any failure raises :class:`SmokeFailure` with the output that shows why.

    python packaging/smoke.py [dist/mneme]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = ROOT / "dist" / "mneme"
GUI_MESSAGE_WORD = "Miso"  # from packaging/entry.py's SMOKE_MESSAGE
CLI_MESSAGE = "Please remember that my favourite colour is teal."
# Environment that would let the frozen app see the development install.
_LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH")


class SmokeFailure(RuntimeError):
    pass


@dataclass
class SmokeReport:
    steps: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    gui: dict[str, Any] = field(default_factory=dict)
    cli_reply: str = ""

    def note(self, line: str) -> None:
        self.steps.append(line)
        print(f"smoke: {line}", flush=True)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY}
    env.update(
        MNEME_HOME=str(home),
        QT_QPA_PLATFORM="offscreen",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env


def _run(
    argv: list[str], home: Path, *, timeout: float = 600
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = _env(home)
    started = time.perf_counter()
    env["MNEME_SMOKE_LAUNCHED"] = repr(time.time())
    try:
        done = subprocess.run(
            argv,
            env=env,
            cwd=home.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SmokeFailure(f"{' '.join(argv)} did not finish in {timeout:.0f} s") from exc
    return done, time.perf_counter() - started


def _expect_ok(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise SmokeFailure(
            f"{what} exited with {done.returncode}\n--- stdout ---\n{done.stdout[-3000:]}"
            f"\n--- stderr ---\n{done.stderr[-3000:]}"
        )


def _json_tail(text: str, what: str) -> Any:
    """The last line of ``text`` that is a JSON value, or the whole text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    for line in reversed(text.strip().splitlines()):
        if line.startswith(("{", "[")):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise SmokeFailure(f"{what} printed no JSON:\n{text[-3000:]}")


def _memories(cli: Path, home: Path) -> list[dict[str, Any]]:
    done, _ = _run([str(cli), "--json", "memory", "list", "--limit", "50"], home)
    _expect_ok(done, "mneme-cli memory list")
    listing = _json_tail(done.stdout, "mneme-cli memory list")
    memories: list[dict[str, Any]] = listing["memories"]
    return memories


def run_smoke(bundle: Path = DEFAULT_BUNDLE) -> SmokeReport:
    app = bundle / ("mneme.exe" if sys.platform == "win32" else "mneme")
    cli = bundle / ("mneme-cli.exe" if sys.platform == "win32" else "mneme-cli")
    for program in (app, cli):
        if not program.exists():
            raise SmokeFailure(f"{program} is missing: build first (python packaging/build.py)")
    report = SmokeReport()
    with tempfile.TemporaryDirectory(prefix="mneme-smoke-") as scratch:
        base = Path(scratch)

        # 1. Starting at all.
        for name, program in (("mneme", app), ("mneme-cli", cli)):
            done, seconds = _run([str(program), "--version"], base / "version")
            _expect_ok(done, f"{name} --version")
            if not done.stdout.startswith("mneme "):
                raise SmokeFailure(f"{name} --version printed {done.stdout!r}")
            report.timings[f"{name}_version_s"] = round(seconds, 3)
            report.note(f"{name} --version: {done.stdout.strip()} ({seconds:.2f} s)")

        # 2. Every part loads.
        home = base / "doctor"
        done, seconds = _run([str(cli), "--json", "doctor"], home)
        _expect_ok(done, "mneme-cli doctor")
        doctor = _json_tail(done.stdout, "mneme-cli doctor")
        missing = [p for p, v in doctor["packages"].items() if v == "not installed"]
        if missing:
            raise SmokeFailure(f"package metadata missing from the bundle: {missing}")
        if doctor["mneme"].endswith("+source"):
            raise SmokeFailure("the bundle does not know its own version (mneme metadata missing)")
        report.timings["doctor_s"] = round(seconds, 3)
        report.note(
            f"doctor: model {doctor['model']['name']} loaded in {doctor['model']['load_s']} s, "
            f"memory ({doctor['memory']['embedder']}) opened in {doctor['memory']['load_s']} s"
        )

        # 3. The window, end to end, then what it remembered.
        home = base / "gui"
        done, seconds = _run([str(app), "--smoke-test"], home)
        _expect_ok(done, "mneme --smoke-test")
        gui = _json_tail(done.stdout, "mneme --smoke-test")
        if not str(gui.get("reply", "")).strip():
            raise SmokeFailure(f"the window got no reply: {gui}")
        report.gui = gui
        report.timings["gui_total_s"] = round(seconds, 3)
        report.note(
            f"Python running after {gui['python_started_s']} s, "
            f"window shown after {gui['window_shown_s']} s, model+memory ready after "
            f"{gui['ready_s']} s, first token {gui['first_token_s']} s, "
            f"whole reply {gui['reply_s']} s; reply: {gui['reply'][:120]!r}"
        )
        memories = _memories(cli, home)
        if not any(GUI_MESSAGE_WORD in m["text"] for m in memories):
            raise SmokeFailure(
                f"the window's message is not in memory; found {[m['text'] for m in memories]}"
            )
        report.note(f"memory after the window: {len(memories)} memories, the message among them")

        # 4. The terminal client answers and remembers.
        home = base / "cli"
        done, seconds = _run([str(cli), "--json", "ask", CLI_MESSAGE], home)
        _expect_ok(done, "mneme-cli ask")
        answer = _json_tail(done.stdout, "mneme-cli ask")
        if not str(answer.get("reply", "")).strip():
            raise SmokeFailure(f"mneme-cli ask got no reply: {answer}")
        report.cli_reply = answer["reply"]
        report.timings["cli_ask_s"] = round(seconds, 3)
        memories = _memories(cli, home)
        if not any("teal" in m["text"] for m in memories):
            raise SmokeFailure(
                f"the asked message is not in memory: {[m['text'] for m in memories]}"
            )
        report.note(
            f"mneme-cli ask answered in {seconds:.1f} s ({answer['reply'][:80]!r}); "
            f"{len(memories)} memories written"
        )
    return report


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    bundle = Path(args[0]) if args else DEFAULT_BUNDLE
    try:
        report = run_smoke(bundle)
    except SmokeFailure as exc:
        print(f"smoke test FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"smoke": "passed", **report.timings}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
