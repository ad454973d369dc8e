"""Feed every malformed input of ``tests/corpus.py`` through the app and count what happens.

    python -m benchmarks.malformed [--kinds gguf,settings,export,chatgpt,server]
                                   [--seed 1] [--limit N] [--llama-sample N] [--json]

Per kind of file: inputs tried; clear errors (only the documented, typed error
escaped, its message a sentence, existing data unchanged); accepted (a mutation
that is still valid, or an import that skipped what did not fit); unexpected
(anything else escaped, an unclear message, data changed) and crashes (llama.cpp
took the process down). The last two must be 0. Every GGUF that passes the
app's header check is loaded by llama.cpp in a child process (``--llama-sample``
loads fewer). The last line is JSON, one object per kind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def run(kinds: list[str], seed: int, limit: int | None, llama_sample: int | None) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from tests import corpus

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mneme-malformed-") as tmp, corpus.quiet_logs():
        for kind in kinds:
            started = time.perf_counter()
            extra = {"llama_sample": llama_sample} if kind == "gguf" else {}
            tally = corpus.RUNNERS[kind](Path(tmp) / kind, seed=seed, limit=limit, **extra)
            results[kind] = {**tally.as_dict(), "seconds": round(time.perf_counter() - started, 1)}
    return results


def main(argv: list[str] | None = None) -> int:
    from tests import corpus

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default=",".join(corpus.KINDS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, help="a seeded sample of this many per kind")
    parser.add_argument("--llama-sample", type=int, help="load only this many GGUFs in llama.cpp")
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(corpus.KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; choose from {', '.join(corpus.KINDS)}")
    results = run(kinds, args.seed, args.limit, args.llama_sample)
    if not args.json:
        head = ("kind", "tried", "clear", "accepted", "unexpected", "crashes")
        print("{:<9} {:>6} {:>6} {:>8} {:>10} {:>7}".format(*head))
        for kind, r in results.items():
            print(
                f"{kind:<9} {r['tried']:>6} {r['clear_error']:>6} {r['accepted']:>8} "
                f"{r['unexpected']:>10} {r['crashes']:>7}   ({r['seconds']} s)"
            )
            for note, n in r["notes"].items():
                print(f"          {note}: {n}")
            for line in r["unexpected_cases"]:
                print(f"          ! {line[:300]}")
    summary = {
        kind: {k: r[k] for k in ("tried", "clear_error", "accepted", "unexpected", "crashes")}
        for kind, r in results.items()
    }
    print(json.dumps(summary))
    bad = any(r["unexpected"] or r["crashes"] for r in results.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
