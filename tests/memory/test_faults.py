"""Faults: another model, a damaged or missing ledger, a lock, a full or read-only disk, a crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mneme.memory import (
    EmbedderMismatchError,
    Kind,
    MemoryStore,
    NewEpisode,
    ServerLocation,
    State,
    StoreLockedError,
    StoreUnavailableError,
)
from mneme.memory._writes import Writer
from tests.fakes import HashEmbedder

TURNS = ["I play the cello on Sundays.", "My flat is in Ghent.", "I can't stand olives."]


def remember(store: MemoryStore) -> None:
    store.add_episodes([NewEpisode(t, "user", "c") for t in TURNS])


def embedded_only(location: ServerLocation | None) -> None:
    if location is not None:
        pytest.skip("a property of the local folder")


def test_another_embedding_model_is_detected_and_nothing_changes(
    open_store, tmp_path: Path, location
) -> None:  # type: ignore[no-untyped-def]
    store = open_store()
    remember(store)
    store.close()
    other = HashEmbedder()
    with pytest.raises(EmbedderMismatchError, match="re-index") as err:
        open_store(embedder=other)
    assert "all-MiniLM-L6-v2" in err.value.stored
    again = open_store()
    assert again.count() == 3 and again.search("cello", k=1)[0].memory.text == TURNS[0]
    again.close()


def test_reindex_switches_models_from_the_verbatim_texts(
    open_store, embedder, tmp_path: Path, location
) -> None:  # type: ignore[no-untyped-def]
    store = open_store()
    remember(store)
    store.set_conversation_title("c", "Hobbies")
    store.close()
    other = HashEmbedder("hash-32", 32)
    seen: list[tuple[int, int]] = []
    n = MemoryStore.reindex(
        tmp_path / "memory",
        other,
        server=location,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert n == 3 and seen[-1] == (3, 3)
    switched = open_store(embedder=other)
    assert switched.count() == 3 and switched.get_conversation("c").title == "Hobbies"  # type: ignore[union-attr]
    assert switched.search("Ghent flat", k=1)[0].memory.text == TURNS[1]
    switched.close()
    with pytest.raises(EmbedderMismatchError):
        open_store()  # MiniLM's index is gone now


def test_an_interrupted_reindex_leaves_the_old_index_in_use(
    open_store, tmp_path: Path, location
) -> None:  # type: ignore[no-untyped-def]
    store = open_store()
    remember(store)
    store.close()

    class Failing(HashEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        MemoryStore.reindex(tmp_path / "memory", Failing("hash-16", 16), server=location)
    survivor = open_store()
    assert survivor.count() == 3 and survivor.search("olives", k=1)[0].memory.text == TURNS[2]
    survivor.close()
    assert (
        MemoryStore.reindex(tmp_path / "memory", HashEmbedder("hash-16", 16), server=location) == 3
    )
    assert open_store(embedder=HashEmbedder("hash-16", 16)).count() == 3


def test_a_same_named_model_of_another_size_is_not_mixed_in(open_store) -> None:  # type: ignore[no-untyped-def]
    store = open_store(embedder=HashEmbedder("same-name", 64))
    remember(store)
    store.close()
    with pytest.raises(EmbedderMismatchError, match="64 dimensions"):
        open_store(embedder=HashEmbedder("same-name", 32))


def test_a_damaged_ledger_is_rebuilt_from_chroma(open_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = open_store()
    remember(store)
    ledger = store._ledger.path
    store.close()
    ledger.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    rebuilt = open_store()
    assert rebuilt.count() == 3
    assert rebuilt.warnings and "damaged" in rebuilt.warnings[0]
    assert rebuilt.search("Where is my flat?", k=1)[0].memory.text == TURNS[1]
    assert [m.text for m in rebuilt.conversation("c")] == TURNS
    assert list(ledger.parent.glob(f"{ledger.name}.damaged-*"))


def test_a_missing_ledger_is_rebuilt_from_chroma(open_store) -> None:  # type: ignore[no-untyped-def]
    store = open_store()
    remember(store)
    ledger = store._ledger.path
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    assert open_store().count() == 3


def test_a_write_cut_off_before_chroma_is_finished_on_the_next_open(
    open_store, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    store = open_store()
    remember(store)

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise SystemExit("killed mid-write")

    monkeypatch.setattr(Writer, "_apply_upsert", crash)
    with pytest.raises(SystemExit):
        store.add_episode(NewEpisode("This was being written when the power went.", "user", "c"))
    monkeypatch.undo()
    store.close()
    reopened = open_store()
    texts = [m.text for m in reopened.conversation("c")]
    assert texts == [*TURNS, "This was being written when the power went."]
    assert reopened.search("power went", k=1)[0].memory.text == texts[-1]


def test_a_store_held_by_another_process_is_refused_clearly(
    tmp_path: Path, embedder, location
) -> None:  # type: ignore[no-untyped-def]
    embedded_only(location)
    folder = tmp_path / "memory"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from mneme.memory._filelock import FolderLock
            from pathlib import Path
            Path({str(folder)!r}).mkdir(parents=True)
            lock = FolderLock(Path({str(folder)!r}))
            lock.acquire()
            print("holding", flush=True)
            time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreLockedError, match=f"process {holder.pid}"):
            MemoryStore.open(folder, embedder)
    finally:
        holder.kill()
        holder.wait()
    MemoryStore.open(folder, embedder).close()  # the lock died with the process


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MB filesystem (tmpfs), so 'disk full' and 'read-only' are the real thing."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_fails_writes_clearly_and_keeps_what_was_stored(
    small_disk: Path, embedder, location
) -> None:  # type: ignore[no-untyped-def]
    embedded_only(location)
    folder = small_disk / "memory"
    store = MemoryStore.open(folder, embedder)
    remember(store)
    ballast = small_disk / "ballast"
    with pytest.raises(OSError), open(ballast, "wb") as f:  # fill the disk to the last byte
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    with pytest.raises(StoreUnavailableError):
        for i in range(200):
            store.add_episode(NewEpisode(f"note {i} " + "padding " * 500, "user", "full"))
    ballast.unlink()
    store.close()
    with MemoryStore.open(folder, embedder) as after:
        assert [m.text for m in after.conversation("c")] == TURNS
        assert after.search("cello", k=1)[0].memory.text == TURNS[0]


def test_a_read_only_folder_is_refused_clearly_and_left_intact(
    small_disk: Path, embedder, location
) -> None:  # type: ignore[no-untyped-def]
    embedded_only(location)
    folder = small_disk / "memory"
    with MemoryStore.open(folder, embedder) as store:
        remember(store)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        with pytest.raises(StoreUnavailableError, match="read-only"):
            MemoryStore.open(folder, embedder)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    with MemoryStore.open(folder, embedder) as store:
        assert store.count() == 3


def test_a_folder_that_is_a_file_is_refused_clearly(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "memory"
    path.write_text("I am a file")
    with pytest.raises(StoreUnavailableError, match="memory"):
        MemoryStore.open(path, embedder)
    assert path.read_text() == "I am a file"


def test_what_a_change_cleared_stays_cleared_when_the_ledger_is_rebuilt(open_store) -> None:  # type: ignore[no-untyped-def]
    """Chroma merges metadata; a cleared flag or end date must not come back from it."""
    store = open_store()
    old = store.add_memory(Kind.FACT, "Rosa lives in Porto.")
    new = store.add_memory(Kind.FACT, "Rosa lives in Lisbon.", extra={"conflicts_with": old.id})
    store.update(old.id, valid_to=store.now(), superseded_by=new.id, state=State.SUPERSEDED)
    store.resolve_conflict(new.id)  # "both are true": only the flag goes
    store.restore_version(old.id, 1)  # the old fact as it was: no end date, no successor
    ledger = store._ledger.path
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    rebuilt = open_store()
    assert "conflicts_with" not in rebuilt.get(new.id).extra
    back = rebuilt.get(old.id)
    assert back.state is State.ACTIVE
    assert back.valid_to is None and back.superseded_by is None
