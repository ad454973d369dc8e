"""Search latency at 10k and 100k memories, against brute force in the same run.

    python -m benchmarks.scale [--sizes 10000 100000] [--queries 200] [--json]
                               [--cache DIR] [--threads 1]

Synthetic memories: sentences of 8-24 words drawn from a 3,000-word Zipf
vocabulary, in conversations of 40 turns over two years; queries (4-12 words,
like a question) are drawn the same way. Each store is built through
``MemoryStore.add_episodes`` in batches of 1,000. Computing 100k MiniLM
vectors takes minutes, so they are computed once and kept in ``--cache``
(keyed by the texts); the store sees the real MiniLM embedder and its real
vectors either way.

Measured per query, after 20 warm-up queries:
* end to end: ``store.search(text, k=10)``, query embedding included;
* store only: the same with the query vector given (hybrid: vectors, BM25,
  fusion, rerank, reading the hits);
* Chroma kNN: the bare vector query inside it, top 10;
* brute force: numpy dot product over all vectors and a top-10 partition.
Memory: the process's resident set after each store is built and searched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

WORDS = 3000
K = 10


def _vocabulary(rng: np.random.Generator) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    vowels = "aeiou"
    words: set[str] = set()
    while len(words) < WORDS:
        n = int(rng.integers(2, 5))
        w = "".join(
            letters[int(rng.integers(0, 26))] + vowels[int(rng.integers(0, 5))] for _ in range(n)
        )
        words.add(w)
    return sorted(words)


def sentences(n: int, seed: int, lengths: tuple[int, int] = (8, 25)) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(np.random.default_rng(0))
    weights = 1.0 / np.arange(1, WORDS + 1)
    weights /= weights.sum()
    out = []
    for _ in range(n):
        length = int(rng.integers(*lengths))
        out.append(" ".join(vocab[i] for i in rng.choice(WORDS, size=length, p=weights)))
    return out


class CachedEmbedder:
    """MiniLM, with vectors of texts seen before read from a file instead."""

    def __init__(self, inner: Any, cache: Path) -> None:
        self.inner = inner
        self.cache = cache
        self.known: dict[str, int] = {}
        self.matrix = np.zeros((0, 0), dtype=np.float32)

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def dimension(self) -> int:
        return int(self.inner.dimension)

    def preload(self, texts: Sequence[str]) -> None:
        key = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:16]
        path = self.cache / f"vectors-{len(texts)}-{key}.npy"
        if path.exists():
            vectors = np.load(path)
        else:
            print(f"embedding {len(texts):,} texts once (cached in {path})…", file=sys.stderr)
            vectors = np.asarray(
                self.inner.load().encode(
                    list(texts), batch_size=16, normalize_embeddings=True, show_progress_bar=False
                ),
                dtype=np.float32,
            )
            self.cache.mkdir(parents=True, exist_ok=True)
            np.save(path, vectors)
        self.matrix = vectors
        self.known = {t: i for i, t in enumerate(texts)}

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if all(t in self.known for t in texts):
            rows: list[list[float]] = self.matrix[[self.known[t] for t in texts]].tolist()
            return rows
        return self.inner.embed(texts)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build(size: int, embedder: CachedEmbedder, folder: Path) -> tuple[Any, float]:
    from mneme.memory import Kind, Memory, MemoryStore, NewEpisode
    from mneme.memory._indexing import dense_text

    texts = sentences(size, seed=size)
    start = 1.65e9
    said = [start + i * (2 * 365 * 86_400 / size) for i in range(size)]
    speakers = ["user", "assistant"]
    episodes = [
        NewEpisode(t, speakers[i % 2], f"conv-{i // 40}", said_at=said[i])
        for i, t in enumerate(texts)
    ]
    embedder.preload(
        [
            dense_text(
                Memory(
                    id="",
                    kind=Kind.EPISODE,
                    text=e.text,
                    said_at=e.said_at or 0,
                    stored_at=0,
                    updated_at=0,
                    role=e.role,
                )
            )
            for e in episodes
        ]
    )
    store = MemoryStore.open(folder, embedder, clock=lambda: start + 2 * 365 * 86_400)
    began = time.perf_counter()
    for i in range(0, size, 1000):
        store.add_episodes(episodes[i : i + 1000])
    return store, time.perf_counter() - began


def measure(size: int, args: argparse.Namespace, embedder: CachedEmbedder) -> dict[str, Any]:
    queries = sentences(args.queries + 20, seed=7, lengths=(4, 13))
    with tempfile.TemporaryDirectory() as tmp:
        store, build_s = build(size, embedder, Path(tmp) / "store")
        try:
            query_vectors = [embedder.inner.embed([q])[0] for q in queries]
            e2e, only, brute, hnsw = [], [], [], []
            got = store._collection.get(include=["embeddings"])  # the same vectors, for numpy
            matrix = np.asarray(got["embeddings"], dtype=np.float32)
            for i, (q, v) in enumerate(zip(queries, query_vectors, strict=True)):
                t0 = time.perf_counter()
                store.search(q, k=K)
                t1 = time.perf_counter()
                store.search(q, k=K, query_vector=v)
                t2 = time.perf_counter()
                scores = matrix @ np.asarray(v, dtype=np.float32)
                top = np.argpartition(-scores, K)[:K]
                top[np.argsort(-scores[top])]
                t3 = time.perf_counter()
                store._collection.query(query_embeddings=[v], n_results=K, include=["distances"])
                t4 = time.perf_counter()
                if i >= 20:
                    e2e.append(t1 - t0)
                    only.append(t2 - t1)
                    brute.append(t3 - t2)
                    hnsw.append(t4 - t3)
            result = {
                "n": size,
                "build_s": round(build_s, 1),
                "e2e_p50_ms": round(statistics.median(e2e) * 1000, 2),
                "e2e_p95_ms": round(percentile(e2e, 0.95) * 1000, 2),
                "store_p50_ms": round(statistics.median(only) * 1000, 2),
                "store_p95_ms": round(percentile(only, 0.95) * 1000, 2),
                "bruteforce_p50_ms": round(statistics.median(brute) * 1000, 2),
                "bruteforce_p95_ms": round(percentile(brute, 0.95) * 1000, 2),
                "chroma_knn_p50_ms": round(statistics.median(hnsw) * 1000, 2),
                "chroma_knn_p95_ms": round(percentile(hnsw, 0.95) * 1000, 2),
                "rss_mb": round(rss_mb(), 0),
                "disk_mb": round(store.stats().size_bytes / 2**20, 1),
            }
        finally:
            store.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mneme-bench")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    from mneme.memory import SentenceTransformerEmbedder

    inner = SentenceTransformerEmbedder(threads=args.threads)
    inner.load()
    embedder = CachedEmbedder(inner, args.cache)
    results = [measure(size, args, embedder) for size in sorted(args.sizes)]
    if not args.json:
        columns = [
            ("n", "n", ",d"), ("e2e p50", "e2e_p50_ms", ""), ("e2e p95", "e2e_p95_ms", ""),
            ("store p50", "store_p50_ms", ""), ("store p95", "store_p95_ms", ""),
            ("kNN p95", "chroma_knn_p95_ms", ""), ("brute p95", "bruteforce_p95_ms", ""),
            ("RSS MB", "rss_mb", ".0f"), ("disk MB", "disk_mb", ""), ("build s", "build_s", ""),
        ]  # fmt: skip
        print(" ".join(f"{title:>10}" for title, _, _ in columns))
        for r in results:
            print(" ".join(f"{r[key]:>10{fmt}}" for _, key, fmt in columns))
        if len(results) > 1:
            a, b = results[0], results[-1]
            print(
                f"from {a['n']:,} to {b['n']:,} memories ({b['n'] / a['n']:.0f}x): store p50 "
                f"x{b['store_p50_ms'] / a['store_p50_ms']:.2f}, Chroma kNN p50 "
                f"x{b['chroma_knn_p50_ms'] / a['chroma_knn_p50_ms']:.2f}, brute force p50 "
                f"x{b['bruteforce_p50_ms'] / a['bruteforce_p50_ms']:.2f}"
            )
    final = dict(results[-1])
    final["by_size"] = results
    print(json.dumps(final))
    return 0


if __name__ == "__main__":
    sys.exit(main())
