"""A consolidation run in its own process, for the kill -9 test.

    python -m tests.memory.consolidation.crash_child FOLDER PROGRESS_FILE

Opens the store in FOLDER (HashEmbedder: the same every time, no model load),
consolidates everything with the rule model slowed down so that a kill lands
mid-job, notes each job it starts in PROGRESS_FILE, and prints "done" when
the run finished.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from mneme.memory import MemoryStore
from mneme.memory.consolidation import ConsolidationConfig, Consolidator
from tests.fakes import HashEmbedder, RuleModel


class SlowRuleModel(RuleModel):
    def generate(self, system: str, prompt: str, **kwargs: Any) -> str:
        time.sleep(0.1)
        return super().generate(system, prompt, **kwargs)


def main() -> None:
    store = MemoryStore.open(sys.argv[1], HashEmbedder())
    try:
        config = ConsolidationConfig(chunk_turns=6, related_similarity=0.99)
        log = open(sys.argv[2], "a", buffering=1)  # noqa: SIM115 - lives as long as the run

        def progress(done: int, total: int, what: str) -> None:
            log.write(f"{done}/{total} {what}\n")

        consolidator = Consolidator(store, SlowRuleModel(), config)
        report = consolidator.run(everything=True, progress=progress)
        if report.status == "done" and report.jobs_left == 0:
            print("done", flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main()
