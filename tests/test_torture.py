"""The short version of ``python -m benchmarks.torture``: a writer killed with SIGKILL at
random moments loses nothing it acknowledged, duplicates nothing, leaves nothing half-written
and breaks no provenance."""

from __future__ import annotations

from pathlib import Path

from benchmarks.torture import _check, _Expected, run


def test_random_kills_lose_and_duplicate_nothing() -> None:
    result = run(kills=5, seed=3)
    assert result["acknowledged"] > 10, result  # the kills landed among real work
    assert result["forgets"] > 0, result  # and forgets ran, with their cascades
    found = (result["lost"], result["duplicated"], result["inconsistent"], result["dangling"])
    assert found == (0, 0, 0, 0), result


def test_the_checker_sees_a_loss_a_duplicate_and_a_stray(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without this, a checker that never complains would pass the test above."""
    from mneme.memory import MemoryStore, NewEpisode
    from tests.fakes import HashEmbedder

    with MemoryStore.open(tmp_path, HashEmbedder()) as store:
        store.add_episodes([NewEpisode(t, "user", "c") for t in ("same", "same", "stray")])
    expected = _Expected(texts={"turn-acknowledged-but-gone": "lost text"})
    expected.texts.update({"x": "same"})
    found = _check(tmp_path, expected)
    assert found == {"lost": 2, "duplicated": 1, "inconsistent": 1, "dangling": 0}


def test_the_checker_sees_dangling_provenance(tmp_path: Path) -> None:
    """A memory citing one that is gone, and a summary a forget deleted whose rewrite was
    never queued (or was done only before the forget), each count once; a deleted summary
    whose rewrite is queued, or one written again, does not."""
    from mneme.memory import Kind, MemoryStore, NewEpisode
    from tests.fakes import HashEmbedder

    with MemoryStore.open(tmp_path, HashEmbedder()) as store:
        said = store.add_episodes([NewEpisode(f"hi {c}", "user", c) for c in "abcd"])
        turns = {m.id: m.text for m in said}
        store.add_memory(Kind.FACT, "Cites a deleted turn.", sources=[said[0].id, "ep-gone"])
        store.add_memory(Kind.FACT, "Cites what exists.", sources=list(turns))

        def summary(conversation: str) -> str:
            return store.add_memory(
                Kind.SUMMARY, "A talk.", scope="session", conversation_id=conversation
            ).id

        lost, done_before, queued, rewritten = (summary(c) for c in "abcd")
        store.jobs.finish(store.jobs.queue_conversation("b", store.now()), store.now())
        at = store.now() + 1  # the forget began after job "b" was done
        store.delete([lost, done_before, queued])  # deleted without queueing, unlike a forget
        store.jobs.queue_conversation("c", store.now())
    expected = _Expected(texts=turns)
    expected.forgets = [
        {
            "begin": "forget",
            "ids": [],
            "at": at,
            "summaries": [
                [lost, "session:a"],
                [done_before, "session:b"],
                [queued, "session:c"],
                [rewritten, "session:d"],
            ],
        }
    ]
    found = _check(tmp_path, expected)
    assert found == {"lost": 0, "duplicated": 0, "inconsistent": 0, "dangling": 3}
    assert expected.forgets == []  # checked once, for the life that made them
