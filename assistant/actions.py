"""The list of things a person can do, as the core's methods marked :func:`action`.

Marking is how the rule "everything the window can do, the CLI can do too"
becomes a test: :func:`core_actions` walks the core's facets and names every
marked method (``"memories.forget"``); each frontend says which actions it
offers, and a test fails when one has none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__mneme_action__"


def action(method: F) -> F:
    """Mark a core method as one thing a person can do."""
    setattr(method, _MARK, True)
    return method


def actions_of(facet: type) -> list[str]:
    """The marked methods of a facet class, by name."""
    return sorted(
        name
        for name, member in inspect.getmembers(facet)
        if getattr(member, _MARK, False) or getattr(getattr(member, "fget", None), _MARK, False)
    )


def core_actions(facets: Mapping[str, type]) -> list[str]:
    """``"facet.method"`` for every action of every facet."""
    return sorted(
        f"{name}.{method}" for name, facet in facets.items() for method in actions_of(facet)
    )
