"""Fit retrieved memories into a prompt's token budget.

Hits are taken in rank order while they fit. Turns that follow each other in
one conversation are then kept together, in the order they were said, so the
model reads an exchange rather than scattered lines; and if room is left, the
turn just before a retrieved reply is added, since a reply is often
meaningless without the question it answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .records import Hit, Kind, Memory


@dataclass(frozen=True, slots=True)
class Snippet:
    """Consecutive memories shown together; ``hits`` are the retrieved ones among them."""

    memories: tuple[Memory, ...]
    hits: tuple[Hit, ...]
    tokens: int


def pack(
    hits: Sequence[Hit],
    budget: int,
    count_tokens: Callable[[Memory], int],
    *,
    previous_turn: Callable[[Memory], Memory | None] | None = None,
) -> list[Snippet]:
    """Snippets in the order of their best hit, within ``budget`` tokens in total.

    ``count_tokens`` prices one memory as the caller will render it.
    """
    chosen: list[Hit] = []
    cost: dict[str, int] = {}
    spent = 0
    for hit in hits:
        if hit.memory.id in cost:
            continue
        price = count_tokens(hit.memory)
        if spent + price <= budget:
            chosen.append(hit)
            cost[hit.memory.id] = price
            spent += price

    extra: list[Memory] = []
    if previous_turn is not None:
        for hit in chosen:
            m = hit.memory
            if m.kind is not Kind.EPISODE or m.role == "user":
                continue
            before = previous_turn(m)
            if before is None or before.id in cost:
                continue
            price = count_tokens(before)
            if spent + price <= budget:
                extra.append(before)
                cost[before.id] = price
                spent += price

    rank = {h.memory.id: i for i, h in enumerate(chosen)}
    by_id = {h.memory.id: h for h in chosen}
    everything = [h.memory for h in chosen] + extra
    episodes = sorted(
        (m for m in everything if m.kind is Kind.EPISODE and m.conversation_id),
        key=lambda m: (m.conversation_id or "", m.seq),
    )
    groups: list[list[Memory]] = []
    for m in episodes:
        last = groups[-1][-1] if groups else None
        if last is not None and last.conversation_id == m.conversation_id and m.seq - last.seq <= 1:
            groups[-1].append(m)
        else:
            groups.append([m])
    grouped = {m.id for g in groups for m in g}
    groups += [[m] for m in everything if m.id not in grouped]

    def best(group: list[Memory]) -> int:
        return min((rank[m.id] for m in group if m.id in rank), default=len(rank))

    return [
        Snippet(
            memories=tuple(g),
            hits=tuple(by_id[m.id] for m in g if m.id in by_id),
            tokens=sum(cost[m.id] for m in g),
        )
        for g in sorted(groups, key=best)
    ]
