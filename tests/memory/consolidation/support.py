"""Helpers for the consolidation tests."""

from __future__ import annotations

from mneme.memory import ListQuery, MemoryStore, NewEpisode
from mneme.memory.records import Memory

DAY = 86_400.0
START = 1_700_000_000.0  # 2023-11-14


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def say(store: MemoryStore, conversation: str, turns: list[str], at: float = START) -> list[Memory]:
    """User and assistant turns, alternating, a minute apart."""
    roles = ["user", "assistant"]
    return store.add_episodes(
        [
            NewEpisode(text, roles[i % 2], conversation, said_at=at + 60 * i)
            for i, text in enumerate(turns)
        ]
    )


def everything_text(store: MemoryStore) -> str:
    page = store.browse(ListQuery(limit=100_000))
    return "\n".join(m.text for m in page.items)
