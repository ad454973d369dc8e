"""Finding the consolidation runs that read or changed one memory (the memory manager's
"which run made this?")."""

from __future__ import annotations

from mneme.memory import Kind, ListQuery, MemoryStore
from mneme.memory.consolidation import Consolidator, RunAction
from tests.fakes import RuleModel
from tests.memory.consolidation.support import DAY, Clock, say


def test_runs_touching_lists_each_run_with_what_it_did_newest_first(
    store: MemoryStore, clock: Clock
) -> None:
    turns = say(store, "a", ["I have a cat.", "ok"])
    first = Consolidator(store, RuleModel()).run(everything=True)
    (fact,) = store.browse(ListQuery(kinds=(Kind.FACT,))).items

    found = store.jobs.runs_touching(fact.id)
    assert [(run.id, actions) for run, actions in found] == [(first.run_id, (RunAction.ADDED,))]
    (run, actions) = store.jobs.runs_touching(turns[0].id)[0]
    assert run.id == first.run_id and actions == (RunAction.READ,)

    # a later run that changes the fact comes first; one that never saw it is not listed
    clock.now += DAY
    say(store, "b", ["Nothing new here.", "ok"], at=clock.now)
    unrelated = Consolidator(store, RuleModel(fact_marker="never")).run(everything=True)
    clock.now += DAY
    say(store, "c", ["I have a cat.", "ok"], at=clock.now)  # the same fact: reinforced
    second = Consolidator(store, RuleModel()).run(everything=True)
    assert second.reinforced == [fact.id]
    found = store.jobs.runs_touching(fact.id)
    assert [run.id for run, _ in found] == [second.run_id, first.run_id]
    assert RunAction.UPDATED in found[0][1]
    assert unrelated.run_id not in {run.id for run, _ in found}
    assert store.jobs.runs_touching(fact.id, limit=1)[0][0].id == second.run_id
    assert store.jobs.runs_touching("no-such-memory") == []
