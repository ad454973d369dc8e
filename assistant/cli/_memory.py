"""``mneme-cli memory …``: everything the window's memory manager does, for a terminal."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import TYPE_CHECKING

from mneme.assistant.contradictions import Decision
from mneme.assistant.memories import ForgetPlan
from mneme.memory import (
    ForgetReport,
    Kind,
    ListQuery,
    MemoryNotFoundError,
    SearchFilter,
    State,
    TranscriptChoice,
)

from ._commands import command
from ._output import Output, hit_json, line, memory_json, when
from ._parser import IN_CONVERSATIONS

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant


@command("memory", "list", does=("memories.browse",))
def list_(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    page = assistant.memories.browse(
        ListQuery(
            kinds=(Kind(args.kind),) if args.kind else (),
            states=(State(args.state),) if args.state else (),
            pinned_only=args.pinned,
            contains=args.contains,
            written_by_model=args.by_model,
            limit=args.limit,
            offset=args.offset,
        )
    )

    def listing() -> None:
        for m in page.items:
            out.say(line(m))
        out.say(f"({len(page.items)} of {page.total})")

    out.data(
        {
            "total": page.total,
            "offset": page.offset,
            "memories": [memory_json(m) for m in page.items],
        },
        listing,
    )
    return 0


@command("memory", "search", does=("memories.search",))
def search(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    filters = SearchFilter(kinds=(Kind(args.kind),) if args.kind else ())
    hits = assistant.memories.search(args.query, k=args.k, filters=filters)

    def ranked() -> None:
        for h in hits:
            out.say(f"{h.score:6.2f}  {line(h.memory)}\n        {h.explanation.describe()}")

    out.data([hit_json(h) for h in hits], ranked)
    return 0


@command("memory", "show", does=("memories.overview",))
def show(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    seen = assistant.memories.overview(args.id)
    d = seen.details
    data = {
        "memory": memory_json(d.memory),
        "history": [memory_json(m) for m in d.history],
        "sources": [m.id for m in d.sources],
        "derived": [m.id for m in d.derived],
        "conversation": asdict(seen.conversation) if seen.conversation else None,
        "runs": [{"id": run.id, "did": list(did)} for run, did in seen.runs],
    }

    def human() -> None:
        m = d.memory
        out.say(line(m))
        out.say(
            f"  said {when(m.said_at)}, stored {when(m.stored_at)}, version {m.version} by "
            f"{m.author.value}, importance {m.importance:.2f}, state {m.state.value}"
        )
        if seen.conversation is not None:
            out.say(f"  in “{seen.conversation.title or 'Untitled'}” ({seen.conversation.id})")
        out.say("\n" + m.text + "\n")
        for v in d.history:
            out.say(f"  v{v.version} by {v.author.value}, {when(v.updated_at)}: {v.text[:100]!r}")
        for label, items in (("from", d.sources), ("derived", d.derived)):
            for item in items:
                out.say(f"  {label}: {line(item)}")
        for run, did in seen.runs:
            out.say(f"  run {run.id} ({when(run.started_at)}): {', '.join(did)}")

    out.data(data, human)
    return 0


@command("memory", "edit", does=("memories.edit",))
def edit(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    m = assistant.memories.edit(args.id, text=args.text, importance=args.importance)
    out.data(memory_json(m), lambda: out.say(f"{m.id} is now version {m.version}"))
    return 0


@command("memory", "restore-version", does=("memories.restore_version",))
def restore_version(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    m = assistant.memories.restore_version(args.id, args.version)
    out.data(
        memory_json(m),
        lambda: out.say(f"version {args.version} of {m.id} is current again (as {m.version})"),
    )
    return 0


@command("memory", "add", does=("memories.add",))
def add(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    m = assistant.memories.add(Kind(args.kind), args.text, pinned=args.pin)
    out.data(memory_json(m), lambda: out.say(m.id))
    return 0


def _pin(assistant: Assistant, args: argparse.Namespace, out: Output, pinned: bool) -> int:
    changed = assistant.memories.set_pinned(args.ids, pinned)
    verb = "pinned" if pinned else "unpinned"
    rest = len(args.ids) - len(changed)
    note = f" ({rest} already {verb})" if rest else ""
    out.data([memory_json(m) for m in changed], lambda: out.say(f"{verb} {len(changed)}{note}"))
    return 0


@command("memory", "pin", does=("memories.set_pinned",))
def pin(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    return _pin(assistant, args, out, True)


@command("memory", "unpin", does=("memories.set_pinned",))
def unpin(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    return _pin(assistant, args, out, False)


_IN_CONVERSATIONS = {
    TranscriptChoice.KEEP_WORDS: "stay in it with their words, marked as not remembered",
    TranscriptChoice.HIDE_WORDS: "stay in it as a gap, their words gone too",
    TranscriptChoice.REMOVE_TURN: "are removed from it too",
}


def _show_plan(plan: ForgetPlan, choice: TranscriptChoice, out: Output) -> None:
    for m in plan.chosen:
        out.say("  " + line(m))
    if plan.also:
        out.say(f"{len(plan.also)} memories come only from these and will be forgotten too:")
        for m in plan.also:
            out.say("  " + line(m))
    if plan.trimmed:
        out.say(f"{len(plan.trimmed)} facts will be kept with their other sources.")
    for conversation in plan.conversations:
        n = len(conversation.turns)
        what = "1 turn said" if n == 1 else f"{n} turns said"
        out.say(
            f"In the conversation “{conversation.title or 'Untitled'}”, {what} there "
            f"{_IN_CONVERSATIONS[choice]}."
        )


def _forget(
    assistant: Assistant, ids: list[str], yes: bool, choice: TranscriptChoice, out: Output
) -> int:
    """Preview (unless ``yes``), ask, forget, report: the one forgetting of the CLI."""
    plan = assistant.memories.forget_preview(ids)
    if plan.missing:
        raise MemoryNotFoundError(f"no memory with id {plan.missing[0]!r}")
    if not yes:
        _show_plan(plan, choice, out)
    if not out.confirm(f"forget {len(plan.deleted)} memories for good?", yes=yes):
        out.say("(nothing deleted)")
        return 0
    report = assistant.memories.forget(ids, transcript=choice)
    _report(report, out)
    return 0


def _report(report: ForgetReport, out: Output) -> None:
    out.data(
        {
            "deleted": list(report.deleted),
            "trimmed": list(report.trimmed),
            "revived": list(report.revived),
            "resummarise": list(report.resummarise),
        },
        lambda: out.say(
            f"deleted {len(report.deleted)}"
            + (
                f"; {len(report.resummarise)} summaries will be rewritten"
                if report.resummarise
                else ""
            )
        ),
    )


@command("memory", "delete", does=("memories.forget_preview", "memories.forget"))
def delete(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    return _forget(assistant, args.ids, args.yes, IN_CONVERSATIONS[args.in_conversations], out)


@command("memory", "forget-about", does=("memories.find_about", "memories.forget"))
def forget_about(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    found = assistant.memories.find_about(args.topic)
    chosen = [m for m in found if m.left_out is None or args.include_pinned]
    for match in (m for m in found if m not in chosen):
        out.warn(f"kept ({match.left_out}; --include-pinned forgets it too): {line(match.memory)}")
    if not chosen:
        out.data({"deleted": []}, lambda: out.say(f"no memory is about “{args.topic}”"))
        return 0
    ids = [m.memory.id for m in chosen]
    return _forget(assistant, ids, args.yes, IN_CONVERSATIONS[args.in_conversations], out)


@command("memory", "conflicts", does=("contradictions.unsettled",))
def conflicts(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    pairs = assistant.contradictions.unsettled()

    def listing() -> None:
        if not pairs:
            out.say("(no facts disagree)")
        for pair in pairs:
            out.say(f"{pair.key}")
            out.say(f"  new: {pair.new.memory.text}  ({when(pair.new.memory.said_at)})")
            old = pair.old.memory.text if pair.old else "(no longer in memory)"
            out.say(f"  old: {old}")
        if pairs:
            out.say("settle one with: mneme-cli memory settle KEY keep-new|keep-old|both")

    out.data(
        [
            {
                "key": p.key,
                "new": memory_json(p.new.memory),
                "old": memory_json(p.old.memory) if p.old else None,
                "conversations": list(p.new.conversations),
            }
            for p in pairs
        ],
        listing,
    )
    return 0


@command("memory", "settle", does=("contradictions.settle",))
def settle(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    changed = assistant.contradictions.settle(args.key, Decision(args.decision))
    out.data(
        [memory_json(m) for m in changed], lambda: out.say(f"settled; {len(changed)} facts changed")
    )
    return 0


@command("memory", "export", does=("transfer.export_memories",))
def export(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    n = assistant.transfer.export_memories(args.path, progress=out.progress())
    out.data(
        {"exported": n, "path": str(args.path)},
        lambda: out.say(f"exported {n} memories to {args.path}"),
    )
    return 0


@command("memory", "import", does=("transfer.import_file",))
def import_(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    summary = assistant.transfer.import_file(args.path, progress=out.progress())

    def imported() -> None:
        out.say(summary.describe())
        for reason in summary.skipped:
            out.say(f"  skipped: {reason}")

    out.data(asdict(summary), imported)
    return 0


@command("memory", "consolidate", does=("consolidation.run",))
def consolidate(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    assistant.open_model()
    assistant.open_memory()

    def progress(done: int, total: int, what: str) -> None:
        if not out.json:
            out.err.write(f"[{done}/{total}] {what}\n")

    report = assistant.consolidation.run(everything=args.now, progress=progress)
    out.data(
        {"run_id": report.run_id, "status": report.status, **report.as_note()},
        lambda: out.say(
            f"{report.status}: read {report.read} turns; {len(report.added)} facts added, "
            f"{len(report.reinforced)} reinforced, {len(report.superseded)} superseded, "
            f"{len(report.contradictions)} contradictions to review, "
            f"{len(report.summarised)} summaries, {len(report.archived)} archived "
            f"({report.seconds:.1f} s, run {report.run_id})"
        ),
    )
    for step, reason in report.skipped:
        out.warn(f"skipped in {step.split('/')[0]}: {reason}")
    for job, reason in report.failed_jobs:
        out.warn(f"gave up on {job}: {reason}")
    return 0 if report.status == "done" else 1


@command("memory", "model-check", does=("consolidation.trust", "consolidation.check_model"))
def model_check(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    if args.run:
        assistant.open_model()
        if not out.json:
            out.err.write("checking what the model writes (about a minute)…\n")
        trust = assistant.consolidation.check_model()
    else:
        trust = assistant.consolidation.trust()
    check = asdict(trust.check) if trust.check is not None else None
    out.data(
        {"use": trust.use, "basis": trust.basis, "model": trust.model, "check": check},
        lambda: out.say(trust.explain()),
    )
    return 0


@command("memory", "runs", does=("consolidation.runs",))
def runs(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    found = assistant.consolidation.runs()

    def listing() -> None:
        if not found:
            out.say("(no runs yet)")
        for r in found:
            counts = ", ".join(f"{k} {v}" for k, v in r.note.items() if isinstance(v, int) and v)
            undone = " (undone)" if r.undone else ""
            out.say(f"{r.id}  {when(r.started_at)}  {r.status}{undone}  {counts}")

    out.data([asdict(r) for r in found], listing)
    return 0


@command("memory", "undo-run", does=("consolidation.undo",))
def undo_run(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    report = assistant.consolidation.undo(args.run_id)
    out.data(
        {"undone": list(report.undone), "kept": list(report.kept)},
        lambda: out.say(
            f"undid {len(report.undone)} changes"
            + (f"; kept {len(report.kept)} you changed since" if report.kept else "")
        ),
    )
    return 0


@command("memory", "reindex", does=("memories.reindex",))
def reindex(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    n = assistant.memories.reindex(out.progress())
    name = assistant.embedder().name
    out.data({"reindexed": n}, lambda: out.say(f"re-indexed {n} memories with {name}"))
    return 0


@command("memory", "stats", does=("memories.stats",))
def stats(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    st = assistant.memories.stats()
    out.data(
        {
            "by_kind": {k.value: n for k, n in st.by_kind.items()},
            "by_state": {s.value: n for s, n in st.by_state.items()},
            "conversations": st.conversations,
            "pinned": st.pinned,
            "size_bytes": st.size_bytes,
            "embedder": st.embedder,
        },
        lambda: out.say(
            ", ".join(f"{n} {k.value}s" for k, n in st.by_kind.items())
            + f"; {st.conversations} conversations; {st.pinned} pinned; "
            f"{st.size_bytes / 2**20:.1f} MB; embedder {st.embedder}"
        ),
    )
    return 0
