"""What memory costs a reply, and what the chat service costs a stream.

    python -m benchmarks.reply [--memories 10000] [--runs 7] [--threads 2] [--json]
                               [--cache DIR]

One process, one model (the bundled SmolLM2 GGUF, default settings, the given
threads), one store of ``--memories`` synthetic memories built as in
``benchmarks.scale`` (real MiniLM vectors, cached in ``--cache``).

Time to first token, from ``ChatService.send`` to the first streamed piece, for
the same questions in three ways, interleaved run by run so that the machine's
drift hits all three alike:

* ``with memory``: retrieval over the store, packing, the memory block in the
  prompt: what the user waits for.
* ``without memory``: ``memory.enabled = False``, same service, same question.
* ``same prompt``: the exact prompt the "with memory" run built, sent straight
  to the model: its difference to "without memory" is the model reading the
  memories, a cost of the model, not of the memory system.

The memory machinery (query embedding, hybrid search, pinned notes, packing
and token counting, storing the user's turn) is timed directly: from
``send`` to the moment the service hands the prompt to the model, with memory
minus without. This is the figure the target (< 5 % of the memory-off time to
first token, or < 50 ms) applies to; the whole-reply differences are also
reported, but prompt evaluation on two busy cores varies by ±20 %, far more
than the machinery costs.

llama.cpp's prompt cache is emptied before every timed call, so every call
evaluates its whole prompt (the cold case; within a conversation the system
prefix would be cached).

Streaming: the decode rate (pieces per second after the first) of a long reply
through ``ChatService.send`` against bare ``llama_cpp.Llama.create_chat_completion``
on the same messages, with the same sampling and seed, on the same loaded model.

The last line is JSON: ``ttft_with_memory_s``, ``ttft_without_memory_s``,
``ttft_same_prompt_s``, ``memory_machinery_s``, ``stream_ratio`` and the rest.

``--typed``: the message is *typed* (``--cps`` characters a second, Enter a
keystroke after the last) into the real chat path with reading ahead on, as
the window does it (``assistant.drafts`` decides when; ``ChatService.read_ahead``
reads), and the first token is timed from the send. In one run, interleaved,
each from an empty model cache: without memory (``ttft_without_memory_s``),
with memory sent at once (``ttft_with_memory_s``), with memory typed with
reading ahead (``ttft_readahead_s``), and without memory typed with reading
ahead (``ttft_without_memory_readahead_s``); ``readahead_ratio`` is the third
over the first. Also how many prompt tokens the cache held at the send, the
memory block's tokens per memory shown (``tokens_per_memory``, and
``tokens_per_memory_before`` for the same memories as the block showed them
before compact rendering), the model's reading speed as the chat measured it
(which sets how many memories not read ahead a send may wait for:
``memory.max_delay_s``), and the memory machinery on the send path.

``--typed --data locomo_dev.json [--conversation conv-26]``: the store is that
conversation (ingested as ``benchmarks.locomo`` does) and the messages typed
are its questions of 40-120 characters (categories 1-4), so that what the last
word changes is what it changes in a real memory; the JSON adds the share of
each question's evidence turns retrieved (``retrieved_recall``), in the prompt
sent at once (``prompt_recall``) and in the prompt after typing
(``prompt_recall_readahead``). Each run's conversation is forgotten after it, so
every run meets the same store.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.locomo import Question
from benchmarks.scale import CachedEmbedder, build, sentences

QUESTIONS = [
    "What did I tell you about {a} and {b} last spring?",
    "Do you remember when we talked about {a}?",
    "Remind me what I said about {a} {b}.",
    "Which {a} did I mention, and when?",
    "What do you know about my {a}?",
    "When did I last bring up {a} or {b}?",
    "Summarize what I said about {a}.",
]
STORY = "Write a long, detailed story about a lighthouse keeper and a storm."


def _first_token(events: Iterator[Any], is_token: Callable[[Any], bool]) -> _Timed:
    """Time a lazy stream to its first token, then drain it (untimed)."""
    start = time.perf_counter()
    seen: list[Any] = []
    for event in events:
        seen.append(event)
        if is_token(event):
            first = time.perf_counter() - start
            seen.extend(events)  # let the reply finish (and be stored)
            return _Timed(start, first, seen)
    raise RuntimeError("the model produced no token")


@dataclass
class _Timed:
    start: float
    first_token_s: float
    events: list[Any]


class _Stopwatch:
    """The backend, noting when the chat service starts a generation."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.called_at = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read_prompt(self, *args: Any, **kwargs: Any) -> Iterator[tuple[int, int]]:
        self.called_at = time.perf_counter()  # the model starts here, reading the prompt
        return self.inner.read_prompt(*args, **kwargs)  # type: ignore[no-any-return]

    def stream_chat(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        if not self.called_at:
            self.called_at = time.perf_counter()
        return self.inner.stream_chat(*args, **kwargs)  # type: ignore[no-any-return]


def _decode_rate(pieces: Iterator[str]) -> tuple[float, int]:
    first: float | None = None
    count = 0
    for piece in pieces:
        if not piece:
            continue
        count += 1
        if first is None:
            first = time.perf_counter()
    if first is None or count < 2:
        return float("nan"), count
    return (count - 1) / (time.perf_counter() - first), count


def _type_and_send(
    chat: Any, conversation: str, text: str, cps: float, pacer: Any
) -> tuple[_Timed, int]:
    """Type ``text`` at ``cps`` into ``chat`` with reading ahead as the window paces it,
    then send; (first token timed from the send, tokens read ahead)."""
    import threading

    from mneme.assistant.chat import Token

    read: list[int] = []
    worker: threading.Thread | None = None
    began = time.perf_counter()
    for i in range(1, len(text) + 2):  # each key, then Enter
        key_at = began + i / cps
        while (now := time.perf_counter()) < key_at:
            if pacer.due(now) and (worker is None or not worker.is_alive()):
                pacer.started()
                draft = text[: i - 1]
                worker = threading.Thread(
                    target=lambda d=draft: read.append(chat.read_ahead(conversation, d))
                )
                worker.start()
            time.sleep(min(0.01, max(0.0, key_at - now)))
        if i <= len(text):
            pacer.changed(time.perf_counter())
    pacer.sent()
    timed = _first_token(chat.send(conversation, text), lambda e: isinstance(e, Token))
    if worker is not None:
        worker.join()
    return timed, sum(read)


def _parts(args: argparse.Namespace, **generation: Any) -> tuple[Any, Any, Any]:
    """(embedder with its vector cache, settings, loaded backend) as both scenarios use
    them: default settings but ``args.threads`` and seed 7, ``generation`` changes."""
    from mneme.assistant.llm.local import LlamaCppBackend
    from mneme.assistant.models import bundled_model_path
    from mneme.assistant.settings import Settings
    from mneme.memory import SentenceTransformerEmbedder

    inner = SentenceTransformerEmbedder(threads=1)
    inner.load()
    settings = Settings()
    settings = settings.model_copy(
        update={
            "model": settings.model.model_copy(update={"threads": args.threads, "seed": 7}),
            "generation": settings.generation.model_copy(update=generation),
        }
    )
    backend = LlamaCppBackend(
        getattr(args, "model", None) or bundled_model_path(),
        context_length=settings.model.context_length,
        threads=args.threads,
        batch_size=settings.model.batch_size,
        seed=7,
    )
    backend.load()
    return CachedEmbedder(inner, args.cache), settings, backend


def _legacy_line(memory: Any) -> str:
    """A memory as the memory block showed it before compact rendering (issue 18)."""
    from mneme.assistant.prompts import describe_memory

    day = time.strftime("%Y-%m-%d", time.gmtime(memory.said_at))
    label, text = describe_memory(memory).split(": ", 1)
    label = label if memory.kind.value == label else f"{label} said"
    return f"- [{day}] {label}: {text}"


def _typed_store(args: argparse.Namespace, embedder: Any, folder: Path) -> tuple[Any, list[Any]]:
    """(store, messages to type): ``--memories`` synthetic memories and made-up questions,
    or with ``--data`` one LoCoMo conversation and its questions of 40-120 characters,
    whose evidence turns give the prompt recall."""
    if args.data is None:
        store, _ = build(args.memories, embedder, folder)
        words = sentences(2 * args.runs + 2, seed=99, lengths=(1, 2))
        texts = [
            QUESTIONS[run % len(QUESTIONS)].format(a=words[2 * run], b=words[2 * run + 1])
            for run in range(args.runs)
        ]
        return store, [Question(text, 0, ()) for text in texts]
    from benchmarks.locomo import CATEGORIES, _Clock, ingest_turns, load
    from mneme.memory import MemoryStore

    conversation = next(c for c in load(args.data) if c.sample_id == args.conversation)
    clock = _Clock()
    store = MemoryStore.open(folder, embedder, clock=clock)
    ingest_turns(store, conversation, conversation.turns, clock)
    clock.now = conversation.turns[-1].said_at + 86_400  # the day after the last session
    asked = [
        q for q in conversation.questions if q.category in CATEGORIES and 40 <= len(q.text) <= 120
    ]
    return store, asked[: args.runs]


def typed(args: argparse.Namespace) -> dict[str, Any]:
    """The typed scenario (see the module's docstring)."""
    from mneme.assistant.chat import ChatService, PromptReady, Retrieved, Token
    from mneme.assistant.drafts import DraftPacer
    from mneme.assistant.llm.owner import ModelOwner
    from mneme.assistant.prompts import MEMORY_CLOSE, MEMORY_OPEN

    def say(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr, flush=True)

    # the first token is what is timed; a short reply keeps the runs quick
    embedder, settings, backend = _parts(args, max_tokens=16)
    if args.max_delay is not None:
        settings = settings.model_copy(
            update={"memory": settings.memory.model_copy(update={"max_delay_s": args.max_delay})}
        )
    off_settings = settings.model_copy(
        update={"memory": settings.memory.model_copy(update={"enabled": False})}
    )
    stopwatch = _Stopwatch(backend)
    owner = ModelOwner(stopwatch)
    times: dict[str, list[float]] = {"without": [], "with": [], "ahead": [], "without_ahead": []}

    def is_token(event: Any) -> bool:
        return isinstance(event, Token)

    cached: dict[str, list[int]] = {k: [] for k in times}
    before_model: dict[str, list[float]] = {"with": [], "without": []}
    per_memory: dict[str, list[float]] = {"before": [], "after": []}
    recall: dict[str, list[float]] = {"retrieved": [], "with": [], "ahead": []}
    with tempfile.TemporaryDirectory() as tmp:
        say("building the store…")
        store, asked = _typed_store(args, embedder, Path(tmp) / "store")
        store_size = store.count()
        try:
            on = ChatService(owner, store, settings)
            off = ChatService(owner, store, off_settings)
            for service in (on, off):  # load every lazy part once, untimed
                _first_token(service.send(f"warm-{id(service)}", "Hello there!"), is_token)
                store.delete_conversation(f"warm-{id(service)}", forget=True)
            # as in the app, where it is kept per model file: how fast the model reads
            on.read_ahead("warm-reading", STORY * 8)
            kinds = list(times)
            for run, question in enumerate(asked):
                text = question.text
                for kind in kinds[run % 4 :] + kinds[: run % 4]:  # a different order each run
                    service = off if kind.startswith("without") else on
                    conversation = f"typed-{kind}-{run}"
                    backend.forget_cache()
                    stopwatch.called_at = 0.0
                    if kind.endswith("ahead"):
                        timed, _ = _type_and_send(
                            service, conversation, text, args.cps, DraftPacer()
                        )
                    else:
                        timed = _first_token(service.send(conversation, text), is_token)
                    store.delete_conversation(conversation, forget=True)  # the next finds none
                    times[kind].append(timed.first_token_s)
                    cached[kind].append(backend.cached_at_start)
                    if kind in before_model:
                        before_model[kind].append(stopwatch.called_at - timed.start)
                    prompt = next(e for e in timed.events if isinstance(e, PromptReady)).prompt
                    shown = store.get_many(list(prompt.shown))
                    if kind in recall and question.evidence:
                        in_prompt = {m.extra.get("dia_id") for m in shown}
                        recall[kind].append(
                            sum(e in in_prompt for e in question.evidence) / len(question.evidence)
                        )
                    if kind == "with" and question.evidence:
                        hits = next(e for e in timed.events if isinstance(e, Retrieved)).hits
                        found = {h.memory.extra.get("dia_id") for h in hits}
                        recall["retrieved"].append(
                            sum(e in found for e in question.evidence) / len(question.evidence)
                        )
                    if kind == "with" and shown and prompt.memory_block:
                        legacy = "\n".join(_legacy_line(m) for m in shown)
                        legacy_block = f"{MEMORY_OPEN}\n{legacy}\n{MEMORY_CLOSE}"
                        for when, block in (
                            ("before", legacy_block),
                            ("after", prompt.memory_block),
                        ):
                            per_memory[when].append(backend.count_tokens(block) / len(shown))
                say(
                    f"run {run + 1}/{len(asked)} ({len(text)} chars): "
                    + ", ".join(
                        f"{k} {v[-1]:.3f}s (cached {cached[k][-1]})" for k, v in times.items()
                    )
                )
        finally:
            store.close()
            backend.close()
    median = {k: statistics.median(v) for k, v in times.items()}
    machinery = statistics.median(before_model["with"]) - statistics.median(before_model["without"])

    def mean(values: list[float]) -> float | None:
        return round(statistics.fmean(values), 3) if values else None

    return {
        "scenario": "typed",
        "data": f"{args.data.name} {args.conversation}" if args.data else "synthetic",
        "memories": store_size,
        "runs": len(asked),
        "threads": args.threads,
        "cps": args.cps,
        "model": backend.name,
        "max_delay_s": settings.memory.max_delay_s,
        "reading_speed_tps": round(owner.reading_speed or 0.0, 1),
        "ttft_without_memory_s": round(median["without"], 4),
        "ttft_with_memory_s": round(median["with"], 4),
        "ttft_readahead_s": round(median["ahead"], 4),
        "ttft_without_memory_readahead_s": round(median["without_ahead"], 4),
        "readahead_ratio": round(median["ahead"] / median["without"], 3),
        "readahead_ratio_target": 1.3,
        "with_memory_ratio": round(median["with"] / median["without"], 3),
        "cached_tokens_at_send": {k: statistics.median(v) for k, v in cached.items()},
        "tokens_per_memory_before": mean(per_memory["before"]),
        "tokens_per_memory": mean(per_memory["after"]),
        "retrieved_recall": mean(recall["retrieved"]),
        "prompt_recall": mean(recall["with"]),
        "prompt_recall_readahead": mean(recall["ahead"]),
        "memory_machinery_s": round(machinery, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mneme-bench")
    parser.add_argument("--typed", action="store_true", help="the typed scenario only")
    parser.add_argument("--cps", type=float, default=5.0, help="typing speed for --typed")
    parser.add_argument("--model", type=Path, default=None, help="a GGUF for --typed")
    parser.add_argument(
        "--data", type=Path, default=None, help="--typed on a LoCoMo file's conversation"
    )
    parser.add_argument("--conversation", default="conv-26", help="which one, with --data")
    parser.add_argument(
        "--max-delay", type=float, default=None, help="memory.max_delay_s for --typed"
    )
    args = parser.parse_args(argv)
    if args.typed:
        print(json.dumps(typed(args)))
        return 0

    from mneme.assistant.chat import ChatService, PromptReady, Token
    from mneme.assistant.llm.base import ChatMessage

    def say(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr, flush=True)

    embedder, settings, backend = _parts(args)
    stopwatch = _Stopwatch(backend)
    llm = backend._llm  # the bare llama_cpp.Llama, for the baseline and cache resets

    with tempfile.TemporaryDirectory() as tmp:
        say(f"building a store of {args.memories:,} memories…")
        store, build_s = build(args.memories, embedder, Path(tmp) / "store")
        try:
            on = ChatService(stopwatch, store, settings)
            off_settings = settings.model_copy(
                update={"memory": settings.memory.model_copy(update={"enabled": False})}
            )
            off = ChatService(stopwatch, store, off_settings)
            words = sentences(2 * args.runs + 2, seed=99, lengths=(1, 2))

            def is_token(event: Any) -> bool:
                return isinstance(event, Token)

            # one untimed reply of each kind loads every lazy part (embedder, FTS, template)
            for service in (on, off):
                for _ in service.send(f"warm-{id(service)}", "Hello there, how are you?"):
                    pass

            with_s: list[float] = []
            without_s: list[float] = []
            same_s: list[float] = []
            before_model: dict[str, list[float]] = {"with": [], "without": []}
            extra_tokens: list[int] = []
            for run in range(args.runs):
                question = QUESTIONS[run % len(QUESTIONS)].format(
                    a=words[2 * run], b=words[2 * run + 1]
                )
                order = ["with", "without"] if run % 2 == 0 else ["without", "with"]
                prompts: dict[str, Any] = {}
                for kind in order:
                    service = on if kind == "with" else off
                    llm.reset()
                    stopwatch.called_at = 0.0
                    timed = _first_token(service.send(f"bench-{kind}-{run}", question), is_token)
                    (with_s if kind == "with" else without_s).append(timed.first_token_s)
                    before_model[kind].append(stopwatch.called_at - timed.start)
                    prompts[kind] = next(
                        e for e in timed.events if isinstance(e, PromptReady)
                    ).prompt
                llm.reset()
                same = backend.stream_chat(prompts["with"].messages, on.sampling())
                same_s.append(_first_token(iter(same), bool).first_token_s)
                extra_tokens.append(prompts["with"].tokens - prompts["without"].tokens)
                say(
                    f"run {run + 1}/{args.runs}: with {with_s[-1]:.3f}s, without "
                    f"{without_s[-1]:.3f}s, same prompt {same_s[-1]:.3f}s, "
                    f"+{extra_tokens[-1]} prompt tokens; before the model "
                    f"{before_model['with'][-1] * 1000:.1f} vs "
                    f"{before_model['without'][-1] * 1000:.1f} ms"
                )

            # streaming throughput, service vs bare llama.cpp, on one prompt
            long_settings = off_settings.model_copy(
                update={"generation": settings.generation.model_copy(update={"max_tokens": 200})}
            )
            streamer = ChatService(backend, store, long_settings)
            sampling = streamer.sampling()
            service_rates: list[float] = []
            bare_rates: list[float] = []
            story_messages: list[ChatMessage] = []
            for run in range(args.runs):
                conversation = f"stream-{run}"

                def service_pieces(conversation: str = conversation) -> Iterator[str]:
                    for event in streamer.send(conversation, STORY):
                        if isinstance(event, PromptReady):
                            story_messages[:] = list(event.prompt.messages)
                        if isinstance(event, Token):
                            yield event.text

                def bare_pieces() -> Iterator[str]:
                    stream = llm.create_chat_completion(
                        messages=[{"role": m.role, "content": m.content} for m in story_messages],
                        max_tokens=sampling.max_tokens,
                        temperature=sampling.temperature,
                        top_p=sampling.top_p,
                        top_k=sampling.top_k,
                        min_p=sampling.min_p,
                        repeat_penalty=sampling.repeat_penalty,
                        seed=sampling.seed,
                        stream=True,
                    )
                    for chunk in stream:
                        yield chunk["choices"][0]["delta"].get("content") or ""

                if run % 2 == 0:
                    service_rate, service_n = _decode_rate(service_pieces())
                    bare_rate, bare_n = _decode_rate(bare_pieces())
                else:  # the prompt of the previous run, service second
                    bare_rate, bare_n = _decode_rate(bare_pieces())
                    service_rate, service_n = _decode_rate(service_pieces())
                if min(service_n, bare_n) >= 32:
                    service_rates.append(service_rate)
                    bare_rates.append(bare_rate)
                say(
                    f"stream {run + 1}/{args.runs}: service {service_rate:.1f}/s "
                    f"({service_n} pieces), bare {bare_rate:.1f}/s ({bare_n} pieces)"
                )
        finally:
            store.close()
            backend.close()

    with_m, without_m, same_m = (statistics.median(v) for v in (with_s, without_s, same_s))
    machinery = statistics.median(before_model["with"]) - statistics.median(before_model["without"])
    allowed = max(0.05 * without_m, 0.050)
    ratio = (
        statistics.median(s / b for s, b in zip(service_rates, bare_rates, strict=True))
        if service_rates
        else float("nan")
    )
    result = {
        "memories": args.memories,
        "runs": args.runs,
        "threads": args.threads,
        "model": backend.name,
        "store_build_s": round(build_s, 1),
        "ttft_with_memory_s": round(with_m, 4),
        "ttft_without_memory_s": round(without_m, 4),
        "ttft_same_prompt_s": round(same_m, 4),
        "memory_machinery_s": round(machinery, 4),
        "memory_machinery_target_s": round(allowed, 4),
        "memory_machinery_ok": machinery < allowed,
        "memory_total_overhead_s": round(with_m - without_m, 4),
        "before_model_with_memory_s": round(statistics.median(before_model["with"]), 4),
        "before_model_without_memory_s": round(statistics.median(before_model["without"]), 4),
        "ttft_with_minus_same_prompt_s": round(
            statistics.median(w - s for w, s in zip(with_s, same_s, strict=True)), 4
        ),
        "extra_prompt_tokens": statistics.median(extra_tokens),
        "service_pieces_per_s": round(statistics.median(service_rates), 2)
        if service_rates
        else None,
        "bare_pieces_per_s": round(statistics.median(bare_rates), 2) if bare_rates else None,
        "stream_ratio": round(ratio, 4),
        "stream_ratio_ok": ratio >= 0.98,
        "stream_runs_counted": len(service_rates),
    }
    if not args.json:
        print(
            f"time to first token (median of {args.runs}, {args.memories:,} memories):\n"
            f"  with memory     {with_m * 1000:8.1f} ms\n"
            f"  without memory  {without_m * 1000:8.1f} ms\n"
            f"  same prompt     {same_m * 1000:8.1f} ms (the with-memory prompt, no retrieval)\n"
            f"  memory machinery {machinery * 1000:7.1f} ms (target < {allowed * 1000:.0f} ms)\n"
            f"  reading the memories: +{result['extra_prompt_tokens']} prompt tokens, "
            f"{(same_m - without_m) * 1000:.0f} ms\n"
            f"streaming through the service / bare llama.cpp: {ratio:.3f} (target >= 0.98)"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
