"""The short version of ``python -m benchmarks.torture``: a writer killed with SIGKILL at
random moments loses nothing it acknowledged, duplicates nothing, leaves nothing half-written."""

from __future__ import annotations

from benchmarks.torture import run


def test_random_kills_lose_and_duplicate_nothing() -> None:
    result = run(kills=5, seed=3)
    assert result["acknowledged"] > 10, result  # the kills landed among real work
    assert (result["lost"], result["duplicated"], result["inconsistent"]) == (0, 0, 0), result


def test_the_checker_sees_a_loss_a_duplicate_and_a_stray(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without this, a checker that never complains would pass the test above."""
    from benchmarks.torture import _check, _Expected
    from memory import MemoryStore, NewEpisode
    from tests.fakes import HashEmbedder

    with MemoryStore.open(tmp_path, HashEmbedder()) as store:
        store.add_episodes([NewEpisode(t, "user", "c") for t in ("same", "same", "stray")])
    expected = _Expected(texts={"turn-acknowledged-but-gone": "lost text"})
    expected.texts.update({"x": "same"})
    found = _check(tmp_path, expected)
    assert found == {"lost": 2, "duplicated": 1, "inconsistent": 1}
