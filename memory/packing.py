"""Fit retrieved memories into a prompt's token budget.

Hits are taken in rank order while they fit. Turns that follow each other in
one conversation are then kept together, in the order they were said, so the
model reads an exchange rather than scattered lines; and if room is left, the
turn just before a retrieved reply is added, since a reply is often
meaningless without the question it answers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
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
    read: Collection[str] = (),
    unread_budget: int | None = None,
) -> list[Snippet]:
    """Snippets in the order of their best hit, within ``budget`` tokens in total.

    ``count_tokens`` prices one memory as the caller will render it. With
    ``unread_budget``, the memories not in ``read`` (ids the model has already read)
    take at most that many tokens of the budget: what the model must still read
    before it can reply.
    """
    chosen: list[Hit] = []
    cost: dict[str, int] = {}
    spent = 0
    unread_room = budget if unread_budget is None else unread_budget

    def fits(memory: Memory, price: int) -> bool:
        nonlocal spent, unread_room
        unread = memory.id not in read
        if spent + price > budget or (unread and price > unread_room):
            return False
        spent += price
        unread_room -= price if unread else 0
        cost[memory.id] = price
        return True

    def context(memory: Memory) -> Memory | None:
        """The question a retrieved reply answers, if it should come along."""
        if previous_turn is None or memory.kind is not Kind.EPISODE or memory.role == "user":
            return None
        return previous_turn(memory)

    extra: list[Memory] = []
    for hit in hits:
        m = hit.memory
        if m.id in cost:
            continue
        before = context(m) if m.id in read else None
        if before is not None and before.id in read and before.id not in cost:
            # read together, kept together: the block read ahead keeps its order
            own, theirs = count_tokens(m), count_tokens(before)
            if spent + own + theirs <= budget:  # both read: no unread room is needed
                fits(m, own)
                fits(before, theirs)
                chosen.append(hit)
                extra.append(before)
            continue
        if fits(m, count_tokens(m)):
            chosen.append(hit)

    for hit in chosen:
        before = context(hit.memory)
        if before is not None and before.id not in cost and fits(before, count_tokens(before)):
            extra.append(before)

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
