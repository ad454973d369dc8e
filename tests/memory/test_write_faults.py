"""Writes that fail half-way through a session: a full disk, a read-only folder.

``test_faults.py`` fills a real 8 MB tmpfs and remounts it read-only, which needs
root. Here the same faults are made without root, so they run everywhere:

* disk full: a child process lowers its own RLIMIT_FSIZE, so every file write past
  the limit fails in the kernel (EFBIG), whoever makes it: SQLite, Chroma's Rust core;
* read-only at start: the folder is made read-only (chmod, or as root a read-only
  bind mount, since root ignores permissions);
* read-only mid-session: Linux refuses to make a filesystem read-only while files on
  it are open for writing (the store's are), so an EROFS can only reach a running
  store from a failing disk; the errors that SQLite and Chroma then raise are
  injected at the two places the store writes.

In every case the write fails with a StoreUnavailableError whose message is a
sentence, nothing already stored changes, a write reported as failed does not
appear later, and the store opens again as it was.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mneme.memory import Kind, MemoryStore, NewEpisode, StoreUnavailableError, _ledger_index
from tests.corpus import is_sentence
from tests.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parents[2]
TURNS = ["I play the cello on Sundays.", "My flat is in Ghent.", "I can't stand olives."]

FULL_DISK_CHILD = """
import json, resource, signal, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from mneme.memory import MemoryStore, NewEpisode, StoreUnavailableError
from tests.fakes import HashEmbedder

folder, margin = Path({folder!r}), {margin}
store = MemoryStore.open(folder, HashEmbedder())
store.add_episodes([NewEpisode(t, "user", "c") for t in {turns!r}])
biggest = max(p.stat().st_size for p in folder.rglob("*") if p.is_file())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
_, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (biggest + margin, hard))
acknowledged, errors, failed = [], [], None
for i in range(300):
    text = f"note {{i}} " + "padding words to fill the disk " * 1500
    try:
        store.add_episode(NewEpisode(text, "user", "full"))
        acknowledged.append(text)
    except StoreUnavailableError as exc:
        errors.append(str(exc))
        failed = failed or text
        if len(errors) == 2:  # and the next try is refused at once
            break
readable = [m.text for m in store.conversation("c")]
found = store.search("where is my flat?", k=1)[0].memory.text
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space again
store.close()
with MemoryStore.open(folder, HashEmbedder()) as store:
    store.add_episode(NewEpisode("Written once there was room.", "user", "c"))
print(json.dumps({{"acknowledged": acknowledged, "errors": errors, "failed": failed,
                   "readable": readable, "found": found}}))
"""


def check_whole(folder: Path, expected_turns: list[str], full: list[str]) -> None:
    with MemoryStore.open(folder, HashEmbedder()) as store:
        assert [m.text for m in store.conversation("c")] == expected_turns
        assert [m.text for m in store.conversation("full")] == full  # each exactly once
        assert store._ledger.pending_intents() == []
        assert store.count() == store._collection.count()
        assert store.warnings == []
        assert not (folder / "unfinished-writes").exists()


@pytest.mark.parametrize("margin", [30_000, 150_000, 400_000, 1_000_000])
def test_a_disk_that_fills_up_fails_writes_clearly_and_loses_nothing(
    tmp_path: Path, margin: int
) -> None:
    """The margin moves the point of failure between the ledger and Chroma's files."""
    folder = tmp_path / "memory"
    child = FULL_DISK_CHILD.format(root=str(ROOT), folder=str(folder), margin=margin, turns=TURNS)
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["errors"]) == 2, "the disk never filled up"
    first, then = result["errors"]
    assert is_sentence(first) and "disk" in first, first  # the person is told where to look
    undone = "nothing was changed" in first
    assert undone or "finished the next time the memory is opened" in first, first
    # refused at once once something was written, or failing the same way before that
    assert is_sentence(then), then
    assert "takes no more changes until Mneme opens it again" in then or then == first
    assert result["readable"] == TURNS and result["found"] == TURNS[1]
    # the write reported as failed is not there, unless the message said it would be
    finished = [] if undone else [result["failed"]]
    check_whole(folder, [*TURNS, "Written once there was room."], result["acknowledged"] + finished)


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    if os.geteuid() != 0:
        paths = [folder, *folder.rglob("*")]
        modes = {p: p.stat().st_mode for p in paths}
        for p in sorted(paths, reverse=True):
            p.chmod(0o500 if p.is_dir() else 0o400)
        try:
            yield
        finally:
            for p in sorted(paths):
                p.chmod(modes[p])
        return
    bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot make a read-only bind mount here: {bound.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_read_only_folder_is_refused_clearly_and_left_untouched(tmp_path: Path) -> None:
    from mneme.assistant import cli

    home = tmp_path / "home"
    folder = home / "data" / "memory"
    with MemoryStore.open(folder, HashEmbedder()) as store:
        store.add_episodes([NewEpisode(t, "user", "c") for t in TURNS])
    before = digest(folder)
    with read_only(folder):
        with pytest.raises(StoreUnavailableError, match="read-only") as refused:
            MemoryStore.open(folder, HashEmbedder())
        assert is_sentence(refused.value)
        err = io.StringIO()
        code = cli.main(["--home", str(home), "memory", "list"], out=io.StringIO(), err=err)
        assert code == cli.EXIT_MEMORY and "is read-only" in err.getvalue()
        assert digest(folder) == before
    check_whole(folder, TURNS, [])


def read_only_fault(where: str) -> Exception:
    """What Chroma's Rust core and SQLite raise when their files cannot be written."""
    if where == "chroma":
        from chromadb.errors import InternalError

        return InternalError("Error executing plan: Read-only file system (os error 30)")
    return sqlite3.OperationalError("attempt to write a readonly database")


@pytest.mark.parametrize("where", ["chroma", "ledger"])
def test_a_folder_turned_read_only_mid_session_fails_writes_clearly(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "memory"
    store = MemoryStore.open(folder, HashEmbedder())
    store.add_episodes([NewEpisode(t, "user", "c") for t in TURNS])
    fault = read_only_fault(where)

    def refuse(*args: object, **kwargs: object) -> None:
        raise fault

    if where == "chroma":
        monkeypatch.setattr(store._collection, "upsert", refuse)
    else:  # the step after Chroma: the catalogue and indexes, inside a transaction
        monkeypatch.setattr(_ledger_index, "put_items", refuse)
    with pytest.raises(StoreUnavailableError, match="read-only") as refused:
        store.add_episode(NewEpisode("This cannot be saved.", "user", "c"))
    assert is_sentence(refused.value) and "nothing was changed" in str(refused.value)
    assert [m.text for m in store.conversation("c")] == TURNS  # still readable
    assert store.search("where is my flat?", k=1)[0].memory.text == TURNS[1]
    monkeypatch.undo()
    with pytest.raises(StoreUnavailableError, match="until Mneme opens it again"):
        store.add_episode(NewEpisode("Not now either.", "user", "c"))
    store.close()
    check_whole(folder, TURNS, [])


def test_when_even_the_undo_fails_the_write_is_finished_at_the_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message says so, and the write then appears exactly once."""
    folder = tmp_path / "memory"
    store = MemoryStore.open(folder, HashEmbedder())
    store.add_episodes([NewEpisode(t, "user", "c") for t in TURNS])
    real = store._ledger.transaction
    calls = {"n": 0}

    @contextlib.contextmanager
    def full_after_the_intent() -> Iterator[sqlite3.Connection]:
        calls["n"] += 1
        if calls["n"] > 1:  # the intent was recorded; nothing after it can be written
            raise StoreUnavailableError(
                f"the disk holding your memory ({folder}) is full; nothing was changed"
            )
        with real() as db:
            yield db

    monkeypatch.setattr(store._ledger, "transaction", full_after_the_intent)
    with pytest.raises(StoreUnavailableError, match="finished the next time") as refused:
        store.add_episode(NewEpisode("Saved in the end.", "user", "c"))
    assert is_sentence(refused.value)
    monkeypatch.undo()
    store.close()
    check_whole(folder, [*TURNS, "Saved in the end."], [])


def test_a_disk_error_while_deleting_says_the_deletion_will_be_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "memory"
    store = MemoryStore.open(folder, HashEmbedder())
    turns = store.add_episodes([NewEpisode(t, "user", "c") for t in TURNS])

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store._collection, "delete", refuse)
    with pytest.raises(StoreUnavailableError, match="deletion will be finished"):
        store.delete([turns[0].id])
    monkeypatch.undo()
    store.close()
    check_whole(folder, TURNS[1:], [])  # what the person asked to forget is gone


def forgettable(store: MemoryStore) -> tuple[list[str], str, str]:
    """Turns, a fact citing the first two (trimmed by forgetting the first) and a session
    summary of all of them (deleted and queued to be written again)."""
    turns = [m.id for m in store.add_episodes([NewEpisode(t, "user", "c") for t in TURNS])]
    fact = store.add_memory(Kind.FACT, "The user plays the cello in Ghent.", sources=turns[:2])
    summary = store.add_memory(
        Kind.SUMMARY, "Music and home.", sources=turns, scope="session", conversation_id="c"
    )
    return turns, fact.id, summary.id


@pytest.mark.parametrize("where", ["chroma", "ledger"])
def test_a_disk_error_in_a_forget_says_it_will_be_finished_and_the_next_open_does(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half-way through a forget (Chroma changed, or the ledger refusing its transaction),
    the person is told it will be finished, no more writes are taken, and the next open
    finishes all of it: the fact trimmed, the summary gone with its rewrite queued."""
    folder = tmp_path / "memory"
    store = MemoryStore.open(folder, HashEmbedder())
    turns, fact, summary = forgettable(store)

    def refuse(*args: object, **kwargs: object) -> None:
        if where == "chroma":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise sqlite3.OperationalError("database or disk is full")

    if where == "chroma":  # the deletions went through; the kept fact's metadata does not
        monkeypatch.setattr(store._collection, "update", refuse)
    else:
        monkeypatch.setattr(_ledger_index, "remove_items", refuse)
    with pytest.raises(StoreUnavailableError, match="forgetting will be finished") as refused:
        store.forget([turns[0]])
    assert is_sentence(refused.value) and "nothing was changed" not in str(refused.value)
    monkeypatch.undo()
    with pytest.raises(StoreUnavailableError, match="until Mneme opens it again"):
        store.add_episode(NewEpisode("Not now.", "user", "c"))
    store.close()
    check_whole(folder, TURNS[1:], [])
    with MemoryStore.open(folder, HashEmbedder()) as store:
        assert store.get(fact).sources == (turns[1],)
        assert store.get_many([summary]) == []
        assert [j.key for j in store.jobs.pending()] == ["session:c"]
