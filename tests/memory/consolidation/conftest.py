"""Consolidation tests run on embedded Chroma; the store's own tests cover the server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mneme.memory import MemoryStore
from tests.memory.consolidation.support import Clock


@pytest.fixture
def location() -> None:
    return None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(open_store: Callable[..., MemoryStore], clock: Clock) -> MemoryStore:
    return open_store(clock=clock)
