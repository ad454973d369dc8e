"""Arbitrary text and arbitrary sequences of operations: only typed errors escape, and
the store stays consistent (ledger, lexical index and Chroma agree)."""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mneme.memory import (
    MAX_TEXT_CHARS,
    InvalidMemoryError,
    Kind,
    ListQuery,
    MemoryNotFoundError,
    MemoryStore,
    NewEpisode,
)
from tests.fakes import HashEmbedder

NASTY = [
    "\x00",
    "a\x00b",
    "\u202eevil right-to-left\u202c",
    "שלום עולם مرحبا",
    "👩‍👩‍👧‍👦🏳️‍🌈",
    "\U0001f600" * 50,
    "\U00010348\U000e0001\U0010fffd",  # other planes, a tag character
    "line\r\nbreak\tand\x1b[31mescape",
    '"; DROP TABLE items; --',
    "NEAR(a b) AND OR NOT * ^ : \" '",
    "x" * 1_000_000,
]
texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=200))
scalars = st.one_of(
    st.text(max_size=30), st.integers(), st.floats(allow_nan=True), st.booleans(), st.none()
)


def stored(text: str) -> str:
    """What the store keeps: NUL becomes U+FFFD (SQLite and Chroma cut text at NUL)."""
    return text.replace("\x00", "\ufffd")


# What must be refused, said here from the documented limits rather than asked of the
# validation code, so that a store refusing too much or too little fails the test.


def refused_text(text: str) -> bool:
    """Empty or blank text, or more than MAX_TEXT_CHARS characters."""
    return not text.strip() or len(text) > MAX_TEXT_CHARS


def refused_extra(extra: dict[str, Any]) -> bool:
    """Names that are empty, longer than 64 characters or not printable; numbers that
    are not finite or do not fit 64 bits (None values are dropped, not refused)."""
    for key, value in extra.items():
        if not key or len(key) > 64 or not key.isprintable():
            return True
        if isinstance(value, float) and not math.isfinite(value):
            return True
        wide = isinstance(value, int) and not isinstance(value, bool)
        if wide and not -(2**63) <= value < 2**63:
            return True
    return False


def kept_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """What the store keeps of metadata it accepts: None values dropped, text as stored."""
    return {k: stored(v) if isinstance(v, str) else v for k, v in extra.items() if v is not None}


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="mneme-prop-"))
        self.store = MemoryStore.open(self.folder, HashEmbedder())
        self.model: dict[str, str] = {}

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @rule(text=texts, role=st.sampled_from(["user", "assistant", ""]), conv=st.text(max_size=8))
    def add_episode(self, text: str, role: str, conv: str) -> None:
        if refused_text(text) or not conv:  # an episode also needs its conversation
            with pytest.raises(InvalidMemoryError):
                self.store.add_episodes([NewEpisode(text, role, conv)])
            return
        (m,) = self.store.add_episodes([NewEpisode(text, role, conv)])
        assert m.text == stored(text)
        self.model[m.id] = stored(text)

    @rule(text=texts, extra=st.dictionaries(st.text(max_size=10), scalars, max_size=3))
    def add_fact(self, text: str, extra: dict[str, Any]) -> None:
        sources = list(self.model)[:2]
        if refused_text(text) or refused_extra(extra):
            with pytest.raises(InvalidMemoryError):
                self.store.add_memory(Kind.FACT, text, sources=sources, extra=extra)
            return
        m = self.store.add_memory(Kind.FACT, text, sources=sources, extra=extra)
        assert self.store.get(m.id).extra == kept_extra(extra)
        self.model[m.id] = stored(text)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), text=texts)
    def edit(self, data: st.DataObject, text: str) -> None:
        memory_id = data.draw(st.sampled_from(sorted(self.model)))
        if refused_text(text):
            with pytest.raises(InvalidMemoryError):
                self.store.edit(memory_id, text)
            return
        self.store.edit(memory_id, text)
        self.model[memory_id] = stored(text)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def forget(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), max_size=3))
        report = self.store.forget(ids)
        for gone in report.deleted:
            self.model.pop(gone, None)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), pinned=st.booleans())
    def pin(self, data: st.DataObject, pinned: bool) -> None:
        self.store.set_pinned(data.draw(st.sampled_from(sorted(self.model))), pinned)

    @rule(memory_id=st.text(max_size=20))
    def unknown_ids_are_typed_errors(self, memory_id: str) -> None:
        if memory_id not in self.model:
            try:
                self.store.get(memory_id)
            except MemoryNotFoundError:
                return
            raise AssertionError("an unknown id was found")

    @rule(query=texts)
    def search_and_browse(self, query: str) -> None:
        for hit in self.store.search(query, k=5):
            assert hit.memory.id in self.model
        page = self.store.browse(ListQuery(contains=query, limit=5))
        assert all(m.id in self.model for m in page.items)

    @invariant()
    def consistent(self) -> None:
        assert self.store.count() == len(self.model) == self.store._collection.count()
        assert self.store._ledger.pending_intents() == []
        for memory_id, text in list(self.model.items())[:5]:
            assert self.store.get(memory_id).text == text
        cited = {s for m in self.store.get_many(sorted(self.model)) for s in m.sources}
        assert cited <= set(self.model), "a memory cites one that was forgotten"


StoreMachine.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_the_store_survives_arbitrary_operations = StoreMachine.TestCase
