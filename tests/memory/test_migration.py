"""A store made by the previous format (v1, the walking skeleton) opens and upgrades."""

from __future__ import annotations

import shutil
from pathlib import Path

from mneme.memory import Kind, MemoryStore, SearchFilter, TurnState
from mneme.memory._ledger import SCHEMA_VERSION

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store-v1"


def test_a_v1_store_opens_with_everything_kept(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "store"
    shutil.copytree(FIXTURE, folder)
    with MemoryStore.open(folder, embedder) as store:
        assert store._ledger.get_meta("schema") == str(SCHEMA_VERSION)
        assert store.count() == 4 and store.count(Kind.FACT) == 1
        assert {c.id: c.title for c in store.conversations()}["conv-a"] == "Family"
        episode = next(m for m in store.conversation("conv-a") if "Porto" in m.text)
        assert episode.version == 2
        assert [h.text for h in store.history(episode.id)] == ["My sister Ana lives in Lisbon."]
        # vectors were recomputed in the new form, and the lexical index gained its columns
        assert store._collection.metadata["text_format"] == 2
        row = store._ledger.query("SELECT meta, context FROM fts WHERE text LIKE '%Porto now%'")
        assert "user" in row[0][0] and "Lisbon is lovely" in row[0][1]
        hits = store.search(
            "Which city does my sister live in?", k=1, filters=SearchFilter(kinds=(Kind.EPISODE,))
        )
        assert hits[0].memory.id == episode.id
        # each conversation's transcript starts as its turns, with their words as they stand
        said = store.transcript("conv-a")
        assert [t.id for t in said] == [m.id for m in store.conversation("conv-a")]
        assert all(t.state is TurnState.REMEMBERED for t in said)
        assert next(t for t in said if t.id == episode.id).text == episode.text
    with MemoryStore.open(folder, embedder) as again:  # and it stays upgraded
        assert again.count() == 4
