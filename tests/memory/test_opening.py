"""Opening the ledger alone: what a returning person sees at once, and when it is not enough."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mneme.memory import (
    EmbedderMismatchError,
    ListQuery,
    MemoryStore,
    NewEpisode,
)
from tests.fakes import HashEmbedder

TURNS = [
    ("user", "I adopted a beagle called Biscuit."),
    ("assistant", "Biscuit is a lovely name."),
    ("user", "My favourite dish is mushroom risotto."),
]


def remembered(folder: Path, embedder) -> list[str]:  # type: ignore[no-untyped-def]
    with MemoryStore.open(folder, embedder) as store:
        saved = store.add_episodes([NewEpisode(t, r, "c1") for r, t in TURNS])
        return [m.id for m in saved]


def test_reading_needs_no_chroma_and_the_first_search_opens_it(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "memory"
    ids = remembered(folder, embedder)
    script = textwrap.dedent(
        f"""
        import json, sys
        from mneme.memory import ListQuery, MemoryStore, SentenceTransformerEmbedder
        embedder = SentenceTransformerEmbedder(threads=1)
        with MemoryStore.open({str(folder)!r}, embedder, connect=False) as s:
            read = [
                [c.id for c in s.conversations()],
                [t.text for t in s.transcript("c1")],
                [m.id for m in s.browse(ListQuery()).items],
                s.count(),
            ]
            before = ["chromadb" in sys.modules, s.connected]
            hits = s.search("What kind of dog do I have?", k=1)
            after = [s.connected, hits[0].memory.text]
        print(json.dumps([read, before, after]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    read, before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert read[0] == ["c1"]
    assert read[1] == [t for _, t in TURNS]
    assert sorted(read[2]) == sorted(ids) and read[3] == 3
    assert before == [False, False]  # Chroma not even imported while reading
    assert after == [True, "I adopted a beagle called Biscuit."]


def test_a_write_connects_and_is_kept(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "memory"
    remembered(folder, embedder)
    with MemoryStore.open(folder, embedder, connect=False) as store:
        assert not store.connected
        store.add_episode(NewEpisode("Biscuit turned three today.", "user", "c1"))
        assert store.connected
    with MemoryStore.open(folder, embedder) as store:
        assert store.count() == 4 == store._collection.count()


def test_a_write_a_crash_left_unfinished_is_finished_before_anything_is_read(
    tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "memory"
    ids = remembered(folder, embedder)
    with MemoryStore.open(folder, embedder) as store:
        # what a crash between the outbox and Chroma leaves: the intent, nothing applied
        store._ledger.push_intent({"op": "delete", "ids": [ids[0]]})
    with MemoryStore.open(folder, embedder, connect=False) as store:
        assert store.connected
        assert ids[0] not in {m.id for m in store.browse(ListQuery()).items}
        assert store.count() == 2 == store._collection.count()


def test_a_new_ledger_is_rebuilt_from_chroma_at_once(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "memory"
    ids = remembered(folder, embedder)
    for part in folder.glob("ledger.sqlite3*"):
        part.unlink()
    with MemoryStore.open(folder, embedder, connect=False) as store:
        assert store.connected
        assert sorted(m.id for m in store.browse(ListQuery()).items) == sorted(ids)


def test_another_models_memory_opens_for_reading_and_refuses_to_search(
    tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "memory"
    remembered(folder, embedder)
    with MemoryStore.open(folder, HashEmbedder(), connect=False) as store:
        assert [t.text for t in store.transcript("c1")] == [t for _, t in TURNS]
        with pytest.raises(EmbedderMismatchError):
            store.connect()
        with pytest.raises(EmbedderMismatchError):
            store.search("dog")
        assert not store.connected
    with MemoryStore.open(folder, embedder) as store:  # nothing changed
        assert store.count() == 3


def test_an_empty_folder_connects_at_once_and_a_failed_open_frees_it(
    tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    """A folder never written holds no ledger to trust: it connects at once, and a
    failure there leaves the folder free for the next open."""
    folder = tmp_path / "memory"
    with MemoryStore.open(folder, embedder, connect=False) as store:
        assert store.connected and store.count() == 0
    remembered(folder, embedder)
    with pytest.raises(EmbedderMismatchError):
        MemoryStore.open(folder, HashEmbedder())
    with MemoryStore.open(folder, embedder) as store:  # the lock was given back
        assert store.count() == 3
