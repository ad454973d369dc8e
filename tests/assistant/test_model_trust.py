"""What the model may write into the memory: the self-check on first use through the core
(real SmolLM2, real store), its verdict kept per model file, and the person's override."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mneme.assistant import cli
from mneme.assistant.core import Assistant
from mneme.assistant.model_trust import FILE_NAME, Basis, ModelChecks
from mneme.memory import ORIGIN, Author, Kind, ListQuery, NewEpisode, Origin
from mneme.memory.consolidation import ModelUse
from mneme.memory.consolidation.selfcheck import ModelCheck


def _automatic(core: Assistant) -> None:
    core.change_settings({"memory.model_writes": "automatic"})


def test_a_model_is_checked_once_before_it_writes_and_its_verdict_is_kept(
    core: Assistant,
) -> None:
    _automatic(core)
    before = core.consolidation.trust()
    assert before.basis is Basis.UNCHECKED and before.use is ModelUse.NOTHING
    assert "until" in before.explain()
    store = core.open_memory()
    store.add_episodes(
        [
            NewEpisode("I keep bees in my garden in Ghent.", "user", "c"),
            NewEpisode("How lovely! Bees are wonderful.", "assistant", "c"),
        ]
    )
    core.open_model()
    steps: list[str] = []
    report = core.consolidation.run(everything=True, progress=lambda d, t, what: steps.append(what))
    assert report.status == "done" and steps[0] == "checking what the model writes"
    after = core.consolidation.trust()
    assert after.basis is Basis.CHECKED and after.check is not None
    assert after.use is after.check.use and after.check.reasons[0].startswith("Facts: ")
    kept = json.loads((core.paths.data / FILE_NAME).read_text())
    assert list(kept["verdicts"]) == [core.model_identity()[0]]
    facts = store.browse(ListQuery(kinds=(Kind.FACT,))).items
    assert "I keep bees in my garden in Ghent." in [f.text for f in facts]
    if after.use is not ModelUse.FACTS_AND_SUMMARIES:  # what the check allows, no more
        assert {f.extra[ORIGIN] for f in facts} == {Origin.STATEMENT}
    steps.clear()
    core.consolidation.run(everything=True, progress=lambda d, t, what: steps.append(what))
    assert "checking what the model writes" not in steps  # checked once per model file


def _check(use: ModelUse) -> ModelCheck:
    return ModelCheck(use, ("Facts: measured.",), 0.9, 0.8, 1.0, 0.7, 0.9, 0)


def test_the_persons_choice_overrides_the_verdict_and_says_so(core: Assistant) -> None:
    _automatic(core)
    identity, _ = core.model_identity()
    ModelChecks(core.paths.data).keep(identity, _check(ModelUse.SUMMARIES))
    trust = core.consolidation.trust()
    assert trust.use is ModelUse.SUMMARIES and trust.basis is Basis.CHECKED
    assert "because of how" in trust.explain() and "Facts: measured." in trust.explain()
    core.change_settings({"memory.model_writes": "nothing"})
    chosen = core.consolidation.trust()
    assert chosen.use is ModelUse.NOTHING and chosen.basis is Basis.CHOSEN
    assert "(your choice)" in chosen.explain() and chosen.check is not None


def test_a_verdict_follows_the_file_not_its_name(tmp_path: Path, smollm_path: Path) -> None:
    checks = ModelChecks(tmp_path)
    copy = tmp_path / "renamed.gguf"
    shutil.copy(smollm_path, copy)
    checks.keep(checks.identity(smollm_path), _check(ModelUse.SUMMARIES))
    assert checks.verdict(checks.identity(copy)) == _check(ModelUse.SUMMARIES)
    with copy.open("ab") as f:  # another model under the same name: checked afresh
        f.write(b"\0")
    assert checks.verdict(checks.identity(copy)) is None


def test_a_damaged_verdict_file_means_checking_again(tmp_path: Path) -> None:
    checks = ModelChecks(tmp_path)
    (tmp_path / FILE_NAME).write_text("{not json")
    assert checks.verdict("sha256 x") is None
    checks.keep("sha256 x", _check(ModelUse.NOTHING))
    assert checks.verdict("sha256 x") == _check(ModelUse.NOTHING)


def test_the_command_line_says_what_the_model_writes_and_lists_it(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    assert cli.main(["--home", str(home), "memory", "model-check"]) == 0
    assert capsys.readouterr().out.startswith("Now: the model writes facts and summaries (your")
    with Assistant.from_environment(home, embedder=embedder) as core:
        store = core.open_memory()
        ours = store.add_memory(Kind.FACT, "The user keeps bees.", author=Author.CONSOLIDATION)
        store.add_memory(Kind.FACT, "The user keeps bees in Ghent.")  # written by hand
    assert cli.main(["--home", str(home), "--json", "memory", "list", "--by-model"]) == 0
    listed = json.loads(capsys.readouterr().out)["memories"]
    assert [m["id"] for m in listed] == [ours.id]
