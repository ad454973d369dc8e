"""mneme-cli as a person runs it: a real process, a real model, a fresh home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import cli


def run_cli(*args: str, home: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MNEME_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("mneme ")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "chat" in out and "ask" in out


def test_ask_replies_and_remembers(home: Path) -> None:
    first = run_cli("ask", "My dentist appointment is on Friday at 3pm.", home=home)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip()
    second = run_cli("ask", "When is my dentist appointment?", "--show-memories", home=home)
    assert second.returncode == 0, second.stderr
    used = second.stdout.split("Memories used:")[1]
    assert "dentist appointment is on Friday" in used


def test_a_missing_model_is_a_clear_error(home: Path) -> None:
    settings = json.loads((home / "config" / "settings.json").read_text())
    settings["model"]["path"] = str(home / "no-such-model.gguf")
    (home / "config" / "settings.json").write_text(json.dumps(settings))
    done = run_cli("ask", "hello", home=home, timeout=60)
    assert done.returncode == cli.EXIT_MODEL
    assert "model file not found" in done.stderr and "Traceback" not in done.stderr


def test_an_empty_message_is_refused(home: Path) -> None:
    assert cli.main(["ask", "   "]) == 2
