"""The consolidation pipeline, branch by branch, with a model that answers by rule."""

from __future__ import annotations

import json

import pytest

from mneme.memory import ORIGIN, Kind, ListQuery, MemoryStore, Origin, SearchFilter, State
from mneme.memory.consolidation import (
    ConsolidationConfig,
    Consolidator,
    JobState,
    ModelBusy,
    decay_score,
)
from mneme.memory.records import Author
from tests.fakes import RuleModel
from tests.memory.consolidation.support import DAY, START, Clock, everything_text, say


def facts(store: MemoryStore, *states: State, origin: Origin = Origin.MODEL) -> list:  # type: ignore[type-arg]
    """The facts of one origin (the model's, by default: what most tests here are about)."""
    query = ListQuery(kinds=(Kind.FACT,), states=states, limit=1000, descending=False)
    return [m for m in store.browse(query).items if m.extra.get(ORIGIN) == origin]


def summaries(store: MemoryStore, scope: str | None = None) -> list:  # type: ignore[type-arg]
    page = store.browse(ListQuery(kinds=(Kind.SUMMARY,), limit=1000, descending=False))
    return [s for s in page.items if scope is None or s.scope == scope]


def test_a_quiet_conversation_gets_a_summary_and_facts_pointing_at_real_turns(
    store: MemoryStore, clock: Clock
) -> None:
    turns = say(
        store, "c1", ["I adopted a cat named Miso.", "Lovely!", "I live in Porto.", "Nice."]
    )
    model = RuleModel()
    consolidator = Consolidator(store, model)
    assert consolidator.run().jobs_done == 0  # still going on: not due yet
    clock.now += 11 * 60
    report = consolidator.run()
    assert report.status == "done" and report.read == 4
    found = facts(store)
    assert [f.text for f in found] == [
        "User said: I adopted a cat named Miso.",
        "User said: I live in Porto.",
    ]
    assert found[0].sources == (turns[0].id,) and found[1].sources == (turns[2].id,)
    assert all(f.author is Author.CONSOLIDATION and f.valid_from == f.said_at for f in found)
    (session,) = summaries(store, "session")
    assert set(session.sources) == {t.id for t in turns} and "Miso" in session.text
    # nothing new: a second run reads nothing and asks nothing
    calls = len(model.calls)
    assert Consolidator(store, model).run(everything=True).read == 0
    assert len(model.calls) == calls


def test_a_busy_conversation_is_consolidated_once_enough_turns_wait(store: MemoryStore) -> None:
    say(store, "c", [f"turn {i}" for i in range(6)])
    config = ConsolidationConfig(size_trigger=6)
    assert Consolidator(store, RuleModel(), config).plan() == ["session:c"]


def test_an_exact_duplicate_reinforces_without_asking_the_model(store: MemoryStore) -> None:
    first = say(store, "a", ["I live in Porto.", "ok"])
    second = say(store, "b", ["I live in Porto.", "ok"], at=START + DAY)
    model = RuleModel()
    Consolidator(store, model).run(everything=True)
    (fact,) = facts(store)
    assert set(fact.sources) == {first[0].id, second[0].id}
    assert fact.confidence == pytest.approx(0.8) and fact.version == 2
    assert [task for task, _ in model.calls].count("decide") == 0


def test_supersede_keeps_the_old_fact_dated_and_queryable_as_of_then(store: MemoryStore) -> None:
    # (said of someone else: no statement of the person's own beside the model's facts)
    say(store, "a", ["Ana works at Acme.", "ok"])
    Consolidator(store, RuleModel()).run(everything=True)
    (old,) = facts(store)
    say(store, "b", ["Ana works at Acme Labs as a chemist now.", "ok"], at=START + 30 * DAY)
    model = RuleModel(
        decisions={"User said: Ana works at Acme Labs as a chemist now.": ("supersede", 1)}
    )
    report = Consolidator(store, model).run(everything=True)
    assert report.superseded == [old.id]
    old_now = store.get(old.id)
    (new,) = facts(store, State.ACTIVE)
    assert old_now.state is State.SUPERSEDED and old_now.superseded_by == new.id
    assert old_now.valid_to == new.valid_from == START + 30 * DAY
    assert [f.id for f in store.facts_as_of(START + DAY)] == [old.id]
    assert [f.id for f in store.facts_as_of(START + 31 * DAY)] == [new.id]
    # out of default retrieval, still found when asked for
    assert old.id not in [h.memory.id for h in store.search("Acme", k=10)]
    hits = store.search("Acme", k=10, filters=SearchFilter(states=(State.SUPERSEDED,)))
    assert [h.memory.id for h in hits] == [old.id]


def test_a_contradiction_keeps_both_and_flags_the_new_one(store: MemoryStore) -> None:
    say(store, "a", ["My sister is called Ana.", "ok"])
    Consolidator(store, RuleModel()).run(everything=True)
    say(store, "b", ["My sister is called Anna, I think.", "ok"], at=START + DAY)
    model = RuleModel(
        decisions={"User said: My sister is called Anna, I think.": ("contradict", 1)}
    )
    report = Consolidator(store, model).run(everything=True)
    both = facts(store, State.ACTIVE)
    assert len(both) == 2 and report.contradictions == [both[1].id]
    assert both[1].extra["conflicts_with"] == both[0].id


def test_the_model_can_say_same_and_add_sources(store: MemoryStore) -> None:
    say(store, "a", ["I have two kids.", "ok"])
    Consolidator(store, RuleModel()).run(everything=True)
    say(store, "b", ["I have got two children.", "ok"], at=START + DAY)
    model = RuleModel(decisions={"User said: I have got two children.": ("same", 1)})
    report = Consolidator(store, model).run(everything=True)
    (fact,) = facts(store)
    assert report.reinforced == [fact.id] and len(fact.sources) == 2
    assert [task for task, _ in model.calls].count("decide") == 1


def test_an_unrelated_fact_is_added_without_asking(store: MemoryStore) -> None:
    say(store, "a", ["Ana plays the cello.", "ok", "Ana's car is a red Fiat.", "ok"])
    model = RuleModel()
    Consolidator(store, model).run(everything=True)
    assert len(facts(store)) == 2
    assert [task for task, _ in model.calls].count("decide") == 0


# -- bad answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "Sure! Here are the facts: the user likes tea.",  # not JSON
        '{"facts": [{"fact": "The user likes tea", "turns": [1], "imp',  # truncated
        '{"facts": "the user likes tea"}',  # wrong type
        "[]",  # JSON, but not an object
    ],
)
def test_an_unusable_answer_is_skipped_with_a_reason(store: MemoryStore, answer: str) -> None:
    say(store, "c", ["I like tea.", "ok"])
    model = RuleModel(script={"facts": [answer, answer]})
    report = Consolidator(store, model).run(everything=True)
    assert report.status == "done" and facts(store) == []
    assert any("/facts/" in step for step, _ in report.skipped)
    assert summaries(store, "session")  # the rest of the job went on
    assert store.jobs.get("session:c").state is JobState.DONE  # type: ignore[union-attr]


def test_a_second_try_is_used_when_the_first_answer_is_garbage(store: MemoryStore) -> None:
    say(store, "c", ["I like tea.", "ok"])
    good = json.dumps({"facts": [{"fact": "The user likes tea.", "turns": [1], "importance": 1}]})
    model = RuleModel(script={"facts": ["not json", good]})
    Consolidator(store, model).run(everything=True)
    assert [f.text for f in facts(store)] == ["The user likes tea."]


def test_facts_that_do_not_fit_are_dropped_one_by_one(store: MemoryStore) -> None:
    say(store, "c", ["I like tea.", "ok"])
    answer = {
        "facts": [
            {"fact": "The user likes tea.", "turns": [1], "importance": 0.4},
            {"fact": "Invented source.", "turns": [7], "importance": 0.4},
            {"fact": "x" * 5000, "turns": [1], "importance": 0.4},
            {"fact": 42, "turns": [1], "importance": 0.4},
            {"fact": "No sources.", "turns": [], "importance": 0.4},
            {"fact": "Odd importance.", "turns": [1], "importance": "high"},
            "just a string",
        ]
    }
    model = RuleModel(script={"facts": [json.dumps(answer)]})
    report = Consolidator(store, model).run(everything=True)
    assert sorted(f.text for f in facts(store)) == ["Odd importance.", "The user likes tea."]
    reasons = " / ".join(reason for _, reason in report.skipped)
    for expected in ("invented turn numbers", "5000 characters", "without text", "no source"):
        assert expected in reasons
    assert "not a fact object" in reasons


def test_a_failing_model_retries_then_gives_up_with_the_reason(store: MemoryStore) -> None:
    say(store, "c", ["I like tea.", "ok"])
    model = RuleModel(fail=TimeoutError("the model server did not answer in 60 s"))
    config = ConsolidationConfig(max_attempts=2)
    first = Consolidator(store, model, config).run(everything=True)
    assert first.failed_jobs == [] and first.jobs_left == 1
    second = Consolidator(store, model, config).run()
    assert second.failed_jobs and "did not answer" in second.failed_jobs[0][1]
    job = store.jobs.get("session:c")
    assert (
        job is not None
        and job.state is JobState.FAILED
        and "did not answer" in (job.last_error or "")
    )
    assert facts(store) == [] and summaries(store) == []


def test_a_model_needed_for_a_reply_pauses_the_run_without_a_failure(store: MemoryStore) -> None:
    say(store, "c", ["I like tea.", "ok"])
    report = Consolidator(store, RuleModel(fail=ModelBusy())).run(everything=True)
    assert report.status == "interrupted"
    job = store.jobs.get("session:c")
    assert job is not None and job.state is JobState.PENDING and job.attempts == 0
    assert Consolidator(store, RuleModel()).run().status == "done"
    assert store.jobs.get("session:c").state is JobState.DONE  # type: ignore[union-attr]


def test_an_empty_or_foreign_conversation_is_handled(store: MemoryStore) -> None:
    say(store, "es", ["Me mudé a Sevilla el año pasado.", "¡Qué bien!"])
    store.set_conversation_title("blank", "A chat with no turns")
    store.jobs.queue_conversation("blank", START)
    (gone,) = say(store, "retracted", ["never mind"])
    store.update(gone.id, state=State.SUPERSEDED)
    report = Consolidator(store, RuleModel()).run(everything=True)
    assert report.status == "done" and report.failed_jobs == []
    assert [f.text for f in facts(store)] == ["User said: Me mudé a Sevilla el año pasado."]
    assert [s.conversation_id for s in summaries(store, "session")] == ["es"]


def test_a_stop_request_leaves_the_rest_queued(store: MemoryStore) -> None:
    for c in "abc":
        say(store, c, ["I like tea.", "ok"])
    done: list[int] = []
    report = Consolidator(store, RuleModel()).run(
        everything=True,
        should_stop=lambda: len(done) >= 1,
        progress=lambda d, t, _: done.append(d) if d else None,
    )
    assert report.status == "interrupted" and report.jobs_left >= 1


# -- long conversations and periods --------------------------------------------------------


def test_a_long_conversation_gets_part_summaries_and_a_summary_of_them(store: MemoryStore) -> None:
    say(store, "long", [f"turn number {i}" for i in range(30)])
    Consolidator(store, RuleModel(), ConsolidationConfig(chunk_turns=12)).run(everything=True)
    parts = summaries(store, "part")
    (session,) = summaries(store, "session")
    assert len(parts) == 3 and set(session.sources) == {p.id for p in parts}
    assert sum(len(p.sources) for p in parts) == 30


def test_sessions_roll_up_into_week_and_month_summaries(store: MemoryStore) -> None:
    monday = 1_700_438_400.0  # 2023-11-20
    say(store, "mon", ["Monday: I started a pottery class.", "ok"], at=monday)
    say(store, "wed", ["Wednesday: the pottery class was fun.", "ok"], at=monday + 2 * DAY)
    say(store, "next", ["Next week: I bought clay.", "ok"], at=monday + 8 * DAY)
    say(store, "next2", ["Also bought a wheel.", "ok"], at=monday + 9 * DAY)
    Consolidator(store, RuleModel()).run(everything=True)
    weeks = summaries(store, "week")
    assert sorted(w.extra["period"] for w in weeks) == ["2023-W47", "2023-W48"]
    w47 = next(w for w in weeks if w.extra["period"] == "2023-W47")
    assert "pottery class was fun" in w47.text and len(w47.sources) == 2
    (month,) = summaries(store, "month")
    assert month.extra["period"] == "2023-11" and set(month.sources) == {w.id for w in weeks}


# -- forgetting -----------------------------------------------------------------------------


def test_decay_archives_what_faded_but_never_a_pinned_memory(
    store: MemoryStore, clock: Clock
) -> None:
    say(store, "c", ["I had toast today.", "ok", "I saw a film.", "ok"])
    Consolidator(store, RuleModel()).run(everything=True)
    toast, film = facts(store)
    store.update(toast.id, importance=0.1)
    store.update(film.id, importance=0.1)
    store.set_pinned(film.id, True)
    clock.now += 3 * 365 * DAY
    report = Consolidator(store, RuleModel()).run(everything=True)
    assert toast.id in report.archived and film.id not in report.archived
    assert store.get(toast.id).state is State.ARCHIVED
    assert store.get(film.id).state is State.ACTIVE
    assert toast.id not in [h.memory.id for h in store.search("toast", k=10)]
    assert store.get(toast.id)  # still browsable
    assert decay_score(store.get(film.id), clock.now, 90) == 1.0


def test_decay_score_weighs_importance_age_and_use(store: MemoryStore) -> None:
    (m,) = say(store, "c", ["x"])
    fresh = decay_score(m, m.said_at, 90)
    old = decay_score(m, m.said_at + 900 * DAY, 90)
    assert fresh > old
    from dataclasses import replace

    used = replace(m, access_count=20)
    assert decay_score(used, m.said_at + 900 * DAY, 90) > old


def test_episodes_are_kept_forever_unless_the_user_caps_their_age(
    store: MemoryStore, clock: Clock
) -> None:
    say(store, "old", ["I like tea.", "ok"])
    Consolidator(store, RuleModel()).run(everything=True)
    clock.now += 400 * DAY
    Consolidator(store, RuleModel()).run(everything=True)
    assert store.count(Kind.EPISODE) == 2
    capped = ConsolidationConfig(episode_retention_days=365)
    report = Consolidator(store, RuleModel(), capped).run(everything=True)
    assert store.count(Kind.EPISODE) == 0 and store.count(Kind.FACT) == 0
    assert len(report.deleted) >= 3


def test_a_deleted_sentence_is_gone_from_every_kind_of_memory(store: MemoryStore) -> None:
    monday = 1_700_438_400.0
    say(store, "a", ["My locker code is 4411.", "Noted.", "I like tea.", "ok"], at=monday)
    say(store, "b", ["I like tea.", "ok"], at=monday + DAY)
    Consolidator(store, RuleModel()).run(everything=True)
    text = everything_text(store)
    assert text.count("4411") >= 4  # the turn, a fact, the session and the week summary
    locker = next(m for m in store.conversation("a") if "4411" in m.text)
    tea_fact = next(f for f in facts(store) if "tea" in f.text)
    assert len(tea_fact.sources) == 2

    report = store.forget([locker.id])
    assert "4411" not in everything_text(store)
    assert tea_fact.id not in report.deleted  # it kept its other sources
    assert set(report.resummarise) == {"session:a", "week:2023-W47", "month:2023-11"}

    Consolidator(store, RuleModel()).run()
    assert "4411" not in everything_text(store)
    (session_a,) = [s for s in summaries(store, "session") if s.conversation_id == "a"]
    assert "I like tea." in session_a.text and locker.id not in session_a.sources
    assert summaries(store, "week")  # written again from what remains


def test_forgetting_a_fact_brings_back_the_one_it_superseded(store: MemoryStore) -> None:
    say(store, "a", ["I work at Acme.", "ok"])
    Consolidator(store, RuleModel()).run(everything=True)
    say(store, "b", ["I work at Acme Labs as a chemist now.", "ok"], at=START + DAY)
    model = RuleModel(
        decisions={"User said: I work at Acme Labs as a chemist now.": ("supersede", 1)}
    )
    Consolidator(store, model).run(everything=True)
    old, new = facts(store)
    report = store.forget([new.id])
    assert report.revived == (old.id,)
    assert store.get(old.id).state is State.ACTIVE and store.get(old.id).valid_to is None


def test_forgetting_a_conversation_takes_its_facts_and_summaries(store: MemoryStore) -> None:
    say(store, "a", ["My locker code is 4411.", "Noted."])
    Consolidator(store, RuleModel()).run(everything=True)
    store.delete_conversation("a", forget=True)
    assert "4411" not in everything_text(store)
    assert store.count() == 0


# -- runs and undo -----------------------------------------------------------------------


def test_a_run_is_recorded_and_can_be_undone_as_a_whole(store: MemoryStore) -> None:
    say(store, "a", ["Ana works at Acme.", "ok"])
    Consolidator(store, RuleModel()).run(everything=True)
    (old,) = facts(store)
    say(
        store,
        "b",
        ["Ana works at Acme Labs as a chemist now.", "ok", "Ana has a dog.", "ok"],
        at=START + DAY,
    )
    model = RuleModel(
        decisions={"User said: Ana works at Acme Labs as a chemist now.": ("supersede", 1)}
    )
    consolidator = Consolidator(store, model)
    report = consolidator.run(everything=True)
    run = consolidator.runs()[0]
    assert run.id == report.run_id and run.status == "done"
    assert run.note["added"] == 2 and run.note["superseded"] == 1 and run.note["read"] == 4
    touched = {c.memory_id for c in store.jobs.changes(run.id)}
    assert old.id in touched and set(report.added) <= touched

    undone, kept = consolidator.undo(run.id)
    assert kept == [] and old.id in undone
    assert [f.id for f in facts(store)] == [old.id]
    assert store.get(old.id).state is State.ACTIVE and store.get(old.id).superseded_by is None
    assert consolidator.runs()[0].undone
    # undone stays undone: the turns are not consolidated again
    assert consolidator.run(everything=True).added == []


def test_undo_keeps_what_the_user_edited_since(store: MemoryStore) -> None:
    say(store, "a", ["I have a cat.", "ok"])
    consolidator = Consolidator(store, RuleModel())
    report = consolidator.run(everything=True)
    (fact,) = facts(store)
    store.edit(fact.id, "I have a cat called Miso.")
    _, kept = consolidator.undo(report.run_id)
    assert kept == [fact.id] and store.get(fact.id).text == "I have a cat called Miso."


def test_a_job_redone_after_a_failure_writes_nothing_twice(store: MemoryStore) -> None:
    """A crash mid-job, played in-process: the model fails on the session summary
    after the facts were written; the redo replays the stored answers."""
    say(store, "a", ["I like tea.", "ok", "I live in Porto.", "ok"])
    model = RuleModel(script={"summarise": ["{broken", "{broken"]})
    flaky = Consolidator(store, model)
    original = flaky._summary

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed")

    flaky._summary = crash  # type: ignore[method-assign]
    assert flaky.run(everything=True).jobs_left == 1
    first_facts = facts(store)
    assert len(first_facts) == 2
    flaky._summary = original  # type: ignore[method-assign]
    fresh_model = RuleModel()
    Consolidator(store, fresh_model).run()
    assert facts(store) == first_facts  # same ids, no duplicates, not rewritten
    assert [task for task, _ in fresh_model.calls] == ["summarise"]  # facts were replayed
    assert len(summaries(store, "session")) == 1


def test_a_summary_is_rewritten_when_a_turn_it_used_was_edited(store: MemoryStore) -> None:
    turns = say(store, "a", ["I live in Porto.", "ok"])
    Consolidator(store, RuleModel()).run(everything=True)
    store.edit(turns[0].id, "I live in Braga.")
    store.jobs.queue_conversation("a", START)
    Consolidator(store, RuleModel()).run()
    (session,) = summaries(store, "session")
    assert "Braga" in session.text and "Porto" not in session.text and session.version == 2
