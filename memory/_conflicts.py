"""Contradictions between facts: which are open, and settling one as the person decided.

Consolidation never guesses which of two contradicting facts holds: it keeps
both and marks the newer one (``extra[CONFLICTS_WITH]`` names the older).
The person decides; the decision is worked out here as new versions of the
two facts, which the store writes in one commit, so a crash leaves the pair
either undecided or decided. Nothing is deleted: a fact that no longer holds
is superseded, dated, and stays in its history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ._ledger_reads import Catalogue
from .errors import InvalidMemoryError
from .records import CONFLICTS_WITH, Author, Memory, Scalar, State


def open_pairs(catalogue: Catalogue) -> list[tuple[Memory, Memory | None]]:
    """Each flagged fact, newest first, with the older fact it names (None if gone)."""
    flagged = catalogue.flagged_conflicts()
    older = catalogue.get([str(m.extra[CONFLICTS_WITH]) for m in flagged])
    return [(m, older.get(str(m.extra[CONFLICTS_WITH]))) for m in flagged]


def _without_flag(extra: Mapping[str, Scalar]) -> dict[str, Scalar]:
    return {k: v for k, v in extra.items() if k != CONFLICTS_WITH}


def settle(keep: Memory, drop: Memory | None, now: float) -> list[tuple[Memory, Memory]]:
    """(before, after) of each fact the decision changes, as new versions by the user.

    With ``drop``, ``keep`` holds and ``drop`` is superseded by it the way
    consolidation supersedes: valid until the later of the two became valid (a
    dropped older fact held until then; a dropped newer one never held), linked
    by ``superseded_by``. Without ``drop`` both are true. The flag goes from
    whichever of the two carries it.
    """
    if drop is not None and drop.id == keep.id:
        raise InvalidMemoryError("a fact cannot be kept instead of itself")
    wanted: list[tuple[Memory, dict[str, Any]]] = []
    if drop is None or keep.extra.get(CONFLICTS_WITH) == drop.id:
        wanted.append((keep, {"extra": _without_flag(keep.extra)}))
    if drop is not None:
        changes: dict[str, Any] = {}
        if drop.extra.get(CONFLICTS_WITH) == keep.id:
            changes["extra"] = _without_flag(drop.extra)
        if drop.state is not State.SUPERSEDED:  # one superseded already keeps its successor
            start = max(keep.valid_from or keep.said_at, drop.valid_from or drop.said_at)
            changes.update(state=State.SUPERSEDED, valid_to=start, superseded_by=keep.id)
        wanted.append((drop, changes))
    return [
        (old, replace(old, **c, version=old.version + 1, updated_at=now, author=Author.USER))
        for old, c in wanted
        if any(getattr(old, k) != v for k, v in c.items())
    ]
