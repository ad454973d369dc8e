"""mneme-cli as a person runs it: a real process, a real model, a fresh home."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mneme.assistant import cli, core
from mneme.assistant.cli._commands import COMMANDS
from mneme.assistant.core import Assistant
from mneme.memory import CONFLICTS_WITH, Kind
from tests.memory.consolidation.support import say


def run_cli(*args: str, home: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MNEME_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "mneme.assistant.cli", *args],
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


def test_ask_can_show_the_prompt_without_sending_it(home: Path) -> None:
    assert run_cli("ask", "My dentist appointment is on Friday at 3pm.", home=home).returncode == 0
    shown = run_cli("ask", "When is my dentist appointment?", "--show-prompt", home=home)
    assert shown.returncode == 0, shown.stderr
    assert "[system]" in shown.stdout and "<memories>" in shown.stdout
    assert "dentist appointment is on Friday" in shown.stdout.split("[user]")[1]
    assert "nothing was sent or remembered" in shown.stdout
    listed = run_cli("--json", "conversations", "list", home=home)
    assert len(json.loads(listed.stdout)) == 1  # the question shown was not kept


def test_a_missing_model_is_a_clear_error(home: Path) -> None:
    settings = json.loads((home / "config" / "settings.json").read_text())
    settings["model"]["path"] = str(home / "no-such-model.gguf")
    (home / "config" / "settings.json").write_text(json.dumps(settings))
    done = run_cli("ask", "hello", home=home, timeout=60)
    assert done.returncode == cli.EXIT_MODEL
    assert "model file not found" in done.stderr and "Traceback" not in done.stderr


def test_an_empty_message_is_refused(home: Path) -> None:
    assert cli.main(["ask", "   "]) == 2


def cli_json(*args: str) -> tuple[int, object]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--json", *args], out=out, err=err)
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else err.getvalue()


def test_memory_commands_for_scripts(home: Path, tmp_path: Path) -> None:
    code, added = cli_json("memory", "add", "The user's bike is a red Brompton.", "--pin")
    assert code == 0 and added["pinned"] and added["kind"] == "fact"  # type: ignore[index]
    fact = added["id"]  # type: ignore[index]
    code, listed = cli_json("memory", "list", "--pinned")
    assert code == 0 and [m["id"] for m in listed["memories"]] == [fact]  # type: ignore[index]
    code, hits = cli_json("memory", "search", "what bicycle do I ride")
    assert code == 0 and hits[0]["memory"]["id"] == fact  # type: ignore[index]
    assert "dense" in hits[0]["explanation"]  # type: ignore[index]
    code, edited = cli_json("memory", "edit", fact, "The user's bike is a green Brompton.")
    assert edited["version"] == 2  # type: ignore[index]
    code, shown = cli_json("memory", "show", fact)
    assert [v["text"] for v in shown["history"]] == ["The user's bike is a red Brompton."]  # type: ignore[index]
    assert cli_json("memory", "unpin", fact)[1][0]["pinned"] is False  # type: ignore[index]
    export = tmp_path / "all.json"
    assert cli_json("memory", "export", str(export))[1] == {"exported": 1, "path": str(export)}
    code, stats = cli_json("memory", "stats")
    assert stats["by_kind"]["fact"] == 1  # type: ignore[index]
    assert cli.main(["memory", "delete", fact], out=io.StringIO(), err=io.StringIO()) == 2
    assert cli_json("memory", "delete", fact, "--yes")[1] == {
        "deleted": [fact],
        "trimmed": [],
        "revived": [],
        "resummarise": [],
    }
    assert cli_json("memory", "show", fact)[0] == cli.EXIT_NOT_FOUND
    code, _ = cli_json("memory", "import", str(export))
    assert code == 0 and cli_json("memory", "stats")[1]["by_kind"]["fact"] == 1  # type: ignore[index]


def test_conversation_commands(home: Path, tmp_path: Path) -> None:
    fixture = Path(__file__).parents[1] / "fixtures" / "chatgpt" / "conversations.json"
    code, summary = cli_json("memory", "import", str(fixture))
    assert code == 0 and summary["conversations"] == 2  # type: ignore[index]
    code, found = cli_json("conversations", "search", "sourdough starter")
    assert [c["title"] for c in found] == ["Sourdough"]  # type: ignore[index]
    cid = found[0]["id"]  # type: ignore[index]
    assert cli_json("conversations", "rename", cid, "Bread")[0] == 0
    code, turns = cli_json("conversations", "show", cid)
    assert [t["role"] for t in turns] == ["user", "assistant"]  # type: ignore[index]
    md = tmp_path / "bread.md"
    assert cli_json("conversations", "export", str(md), "--id", cid)[1] == {"exported": 1}
    assert "# Bread" in md.read_text()
    code, done = cli_json("conversations", "delete", cid, "--forget")
    assert len(done["forgotten"]) == 2  # type: ignore[index]
    assert cli_json("conversations", "show", cid)[0] == cli.EXIT_NOT_FOUND
    assert cli_json("memory", "import", str(tmp_path / "missing.json"))[0] != 0


def test_doctor_and_models_report_what_is_there(home: Path) -> None:
    code, report = cli_json("doctor")
    assert code == 0
    assert report["model"]["loads"] and report["memory"]["opens"]  # type: ignore[index]
    assert report["packages"]["chromadb"] != "not installed"  # type: ignore[index]
    code, models = cli_json("models")
    assert code == 0 and models[0]["bundled"] and models[0]["in_use"]  # type: ignore[index]


def test_doctor_names_a_broken_model(home: Path) -> None:
    settings = json.loads((home / "config" / "settings.json").read_text())
    settings["model"]["path"] = str(home / "nope.gguf")
    (home / "config" / "settings.json").write_text(json.dumps(settings))
    code, report = cli_json("doctor")
    assert code == cli.EXIT_MODEL and "not found" in report["model"]["error"]  # type: ignore[index]


def test_settings_are_checked_before_they_are_saved(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = home / "config" / "settings.json"
    before = file.read_text()
    assert cli.main(["--home", str(home), "settings", "set", "generation.top_p", "7"]) == 2
    assert "generation.top_p" in capsys.readouterr().err
    assert cli.main(["--home", str(home), "settings", "set", "no.such", "1"]) == 2
    assert "no such setting" in capsys.readouterr().err
    assert file.read_text() == before  # nothing half-applied

    assert cli.main(["--home", str(home), "settings", "set", "generation.top_p", "0.5"]) == 0
    assert json.loads(file.read_text())["generation"]["top_p"] == 0.5
    capsys.readouterr()
    assert cli.main(["--home", str(home), "--json", "settings", "show", "generation"]) == 0
    assert json.loads(capsys.readouterr().out)["top_p"] == 0.5
    assert cli.main(["--home", str(home), "settings", "reset", "generation.top_p"]) == 0
    assert json.loads(file.read_text())["generation"]["top_p"] == 0.95


def test_consolidate_list_runs_and_undo_from_the_command_line(home: Path) -> None:
    assert run_cli("ask", "My bike is a blue Gazelle.", home=home).returncode == 0
    done = run_cli("--json", "memory", "consolidate", "--now", home=home)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "done" and report["read"] == 2 and report["summarised"] >= 1
    runs = json.loads(run_cli("--json", "memory", "runs", home=home).stdout)
    assert runs[0]["id"] == report["run_id"]
    undo = run_cli("--json", "memory", "undo-run", report["run_id"], home=home)
    assert undo.returncode == 0, undo.stderr
    assert len(json.loads(undo.stdout)["undone"]) >= 1
    summaries = run_cli("--json", "memory", "list", "--kind", "summary", home=home)
    assert json.loads(summaries.stdout)["memories"] == []
    missing = run_cli("memory", "undo-run", "run-nope", home=home)
    assert missing.returncode == cli.EXIT_NOT_FOUND


def test_backup_and_restore_from_the_command_line(home: Path, tmp_path: Path) -> None:
    def cli_json(*args: str) -> tuple[int, object]:
        out = io.StringIO()
        code = cli.main(["--json", *args], out=out, err=io.StringIO())
        return code, json.loads(out.getvalue()) if out.getvalue() else None

    assert cli_json("memory", "add", "The user's boat is called Nausicaa.")[0] == 0
    code, made = cli_json("backup", str(tmp_path / "b"))
    assert code == 0 and made["memories"] == 1  # type: ignore[index]
    assert (tmp_path / "b" / "settings.json").exists()
    assert cli_json("memory", "add", "Added after the backup.")[0] == 0
    assert cli.main(["restore", str(tmp_path / "b")], out=io.StringIO(), err=io.StringIO()) == 2
    code, restored = cli_json("restore", str(tmp_path / "b"), "--yes")
    assert code == 0 and restored["restored"] == 1  # type: ignore[index]
    code, listed = cli_json("memory", "list")
    assert [m["text"] for m in listed["memories"]] == ["The user's boat is called Nausicaa."]  # type: ignore[index]
    assert Path(restored["previous"]).exists()  # type: ignore[index]
    assert cli.main(["restore", str(tmp_path)], out=io.StringIO(), err=io.StringIO()) != 0


def test_every_core_action_has_a_command() -> None:
    """Everything the window can do through the core, the CLI can do too."""
    missing = set(core.actions()) - cli.covered()
    assert not missing, f"core actions without a CLI command: {sorted(missing)}"
    assert cli.covered() <= set(core.actions()), "a command names an action the core lacks"
    for words in COMMANDS:
        with pytest.raises(SystemExit) as shown:
            cli.main([*words, "--help"], out=io.StringIO(), err=io.StringIO())
        assert shown.value.code == 0, words


def test_conflicts_are_listed_and_settled_from_the_command_line(home: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    with Assistant.from_environment(embedder=embedder) as assistant:
        old = assistant.memories.add(Kind.FACT, "The user's sister is Ana.")
        new = assistant.open_memory().add_memory(
            Kind.FACT, "The user's sister is Anna.", extra={CONFLICTS_WITH: old.id}
        )
    code, pairs = cli_json("memory", "conflicts")
    assert code == 0 and [p["key"] for p in pairs] == [new.id]  # type: ignore[index]
    assert pairs[0]["old"]["id"] == old.id  # type: ignore[index]
    code, changed = cli_json("memory", "settle", new.id, "keep-new")
    assert code == 0 and {m["id"] for m in changed} == {old.id, new.id}  # type: ignore[union-attr]
    assert cli_json("memory", "conflicts")[1] == []
    assert cli_json("memory", "show", old.id)[1]["memory"]["state"] == "superseded"  # type: ignore[index]
    assert cli_json("memory", "settle", new.id, "both")[0] == cli.EXIT_NOT_FOUND


def test_forget_about_uses_the_same_rule_as_the_window(home: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    with Assistant.from_environment(embedder=embedder) as assistant:
        store = assistant.open_memory()
        climbing, _ = say(store, "c", ["I went climbing in Fontainebleau.", "Fun!"])
        milk, _ = say(store, "m", ["Remind me to buy oat milk.", "Noted."])
        expected = {h.memory.id for h in assistant.memories.find_about("climbing")}
    assert climbing.id in expected and milk.id not in expected
    assert cli.main(["memory", "forget-about", "climbing"], out=io.StringIO()) == 2  # asks
    code, report = cli_json("memory", "forget-about", "climbing", "--yes")
    assert code == 0 and expected <= set(report["deleted"])  # type: ignore[index]
    code, listed = cli_json("memory", "list")
    assert milk.id in {m["id"] for m in listed["memories"]}  # type: ignore[index]


def test_forget_in_a_chat_is_true_forgetting(
    home: Path,
    embedder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    """``/forget`` takes along what was learnt only from the exchange, like the window."""
    open_core = Assistant.from_environment
    assistant = open_core(embedder=embedder)
    monkeypatch.setattr(Assistant, "from_environment", lambda *a, **k: assistant)
    learnt: list[str] = []

    def typed(lines: list[str]) -> Callable[[str], str]:
        def answer(prompt: str) -> str:
            if not lines:
                raise EOFError
            line = lines.pop(0)
            if line == "/forget":  # consolidation learnt a fact from the exchange meanwhile
                store = assistant.open_memory()
                (conversation,) = store.conversations()
                turns = store.conversation(conversation.id)
                fact = store.add_memory(Kind.FACT, "The user's cat is Miso.", sources=[turns[0].id])
                learnt.append(fact.id)
            return line

        return answer

    monkeypatch.setattr("builtins.input", typed(["My cat is called Miso.", "/forget"]))
    assert cli.main(["chat"]) == 0
    assert "forgot the last 2 turns; 3 memories" in capsys.readouterr().out
    with open_core(embedder=embedder) as after:
        assert after.memories.count() == 0 and after.memories.get_many(learnt) == []
        # the words stay in the conversation, marked as no longer remembered
        (conversation,) = after.conversations.all()
        said = after.conversations.turns(conversation.id)
        assert said[0].text == "My cat is called Miso." and said[0].memory is None


def test_a_forget_in_a_chat_can_be_taken_back(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["My cat is called Miso.", "/forget", "/undo", "/undo"]
    monkeypatch.setattr("builtins.input", lambda prompt: lines.pop(0) if lines else "/quit")
    assert cli.main(["chat"]) == 0
    out = capsys.readouterr().out
    assert "(took back forgetting 2 memories)" in out
    assert "(there is nothing to take back any more)" in out
    code, listed = cli_json("memory", "list")
    assert code == 0 and listed["total"] == 2  # type: ignore[index]


def test_forgetting_from_the_command_line_chooses_what_conversations_keep(
    home: Path,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    with Assistant.from_environment(embedder=embedder) as assistant:
        store = assistant.open_memory()
        climb, _ = say(store, "c", ["I went climbing in Fontainebleau.", "Fun!"])
        pinned = assistant.memories.add(Kind.FACT, "I love climbing.", pinned=True)
    code, report = cli_json("memory", "delete", climb.id, "--yes", "--in-conversations", "remove")
    assert code == 0 and report["deleted"] == [climb.id]  # type: ignore[index]
    code, turns = cli_json("conversations", "show", "c")
    assert [t["text"] for t in turns] == ["Fun!"]  # type: ignore[index]
    code, report = cli_json("memory", "forget-about", "climbing", "--yes")
    assert pinned.id not in report["deleted"]  # type: ignore[index]
    code, report = cli_json("memory", "forget-about", "climbing", "--yes", "--include-pinned")
    assert report["deleted"] == [pinned.id]  # type: ignore[index]
