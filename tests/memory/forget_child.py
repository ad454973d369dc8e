"""A forget in its own process, killed with SIGKILL at a chosen point, for ``test_forgetting``.

    python -m tests.memory.forget_child FOLDER POINT ID...

Opens the store in FOLDER (HashEmbedder: no model load), arranges for the
process to kill itself at POINT, forgets the ids and prints "done" if it was
not killed. The points, in the order a forget reaches them:

* ``before-intent``: before the intent is committed (nothing may change);
* ``intent``: the intent is committed, nothing applied yet;
* ``chroma-deletes``: Chroma has deleted, the metadata of the kept facts not set;
* ``chroma``: Chroma is done, the ledger not touched;
* ``ledger``: inside the ledger's transaction, before it commits;
* ``none``: not killed.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from mneme.memory import MemoryStore
from mneme.memory._jobs import JobBook
from mneme.memory._ledger import Ledger
from mneme.memory._writes import Writer
from tests.fakes import HashEmbedder


def die(*args: Any, **kwargs: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    folder, point, ids = sys.argv[1], sys.argv[2], sys.argv[3:]
    store = MemoryStore.open(folder, HashEmbedder())
    # setattr: the stand-ins do not have the types of the methods they replace
    if point == "before-intent":
        setattr(Ledger, "push_intent", die)  # noqa: B010
    elif point == "intent":
        setattr(Writer, "_apply_forget", die)  # noqa: B010
    elif point == "chroma-deletes":
        setattr(store._collection, "update", die)  # noqa: B010
    elif point == "chroma":
        apply = Writer._forget_in_chroma

        def then_die(self: Writer, *args: Any) -> None:
            apply(self, *args)
            die()

        setattr(Writer, "_forget_in_chroma", then_die)  # noqa: B010
    elif point == "ledger":
        setattr(JobBook, "enqueue", die)  # noqa: B010
    elif point != "none":
        raise SystemExit(f"unknown point {point!r}")
    store.forget(ids)
    store.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
