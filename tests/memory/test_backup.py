"""Backups taken while the store is in use, and restores that keep the present aside."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mneme.memory import Kind, ListQuery, MemoryStore, NewEpisode, StoreLockedError
from mneme.memory.backup import read_info
from mneme.memory.errors import StoreUnavailableError

from .conftest import new_database


@pytest.fixture
def location() -> None:
    return None


def snapshot(store: MemoryStore) -> dict[str, tuple[str, int]]:
    return {m.id: (m.text, m.version) for m in store.browse(ListQuery(limit=100_000)).items}


def test_a_backup_taken_during_writes_restores_exactly(
    open_store,
    embedder,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    folder = tmp_path / "memory"
    store = open_store(folder)
    turns = store.add_episodes([NewEpisode(f"turn {i}", "user", "c") for i in range(20)])
    fact = store.add_memory(Kind.FACT, "The user has a red bike.", sources=[turns[0].id])
    store.edit(fact.id, "The user has a green bike.")
    store.set_conversation_title("c", "Bikes")
    stop = threading.Event()

    def keep_writing() -> None:
        i = 0
        while not stop.is_set():
            store.add_episode(NewEpisode(f"busy {i}", "user", "busy"))
            i += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        info = store.backup(tmp_path / "backup")
    finally:
        stop.set()
        writer.join()
    assert info.memories >= 21 and info.size_bytes > 0
    assert not (tmp_path / "backup.partial").exists()
    assert read_info(tmp_path / "backup").memories == info.memories
    store.delete([fact.id])
    store.add_episode(NewEpisode("after the backup", "user", "c"))
    after = snapshot(store)
    store.close()

    with pytest.raises(StoreUnavailableError, match="already exists"):
        MemoryStore.open(tmp_path / "other", embedder).backup(tmp_path / "backup")

    restored_info, aside = MemoryStore.restore_backup(tmp_path / "backup", folder, embedder)
    assert restored_info.memories == info.memories and aside is not None
    with MemoryStore.open(folder, embedder) as back:
        assert back.count() == info.memories == back._collection.count()
        assert back.get(fact.id).text == "The user has a green bike."
        assert [h.text for h in back.history(fact.id)] == ["The user has a red bike."]
        assert back.get_conversation("c").title == "Bikes"  # type: ignore[union-attr]
        assert back.search("green bike", k=1)[0].memory.id == fact.id
    with MemoryStore.open(aside, embedder) as kept:  # the present was kept, not lost
        assert snapshot(kept) == after


def test_restore_is_refused_while_the_memory_is_open(
    open_store,
    embedder,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    folder = tmp_path / "memory"
    store = open_store(folder)
    store.add_episode(NewEpisode("hello", "user", "c"))
    store.backup(tmp_path / "backup")
    with pytest.raises(StoreLockedError):
        MemoryStore.restore_backup(tmp_path / "backup", folder, embedder)
    assert store.count() == 1 and folder.exists()


def test_something_that_is_not_a_backup_is_refused(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "mneme-backup.json").write_text("{not json")
    for candidate in (tmp_path / "junk", tmp_path / "missing"):
        with pytest.raises(StoreUnavailableError, match="not a Mneme memory backup"):
            MemoryStore.restore_backup(candidate, tmp_path / "memory", embedder)
    assert not (tmp_path / "memory").exists()


def test_a_server_memory_is_not_copied_by_folder(
    embedder,
    chroma_server: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    server = new_database(chroma_server)
    with (
        MemoryStore.open(tmp_path / "m", embedder, server=server) as store,
        pytest.raises(StoreUnavailableError, match="use export"),
    ):
        store.backup(tmp_path / "backup")
