"""mneme-cli: the assistant in a terminal, and its memory for scripts.

Exit codes: 0 success, 1 unexpected error, 2 bad usage or input, 3 the model
cannot be used, 4 the memory cannot be used, 5 no such memory or conversation.
``--json`` prints machine-readable output where a script would want it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import getpass
import json
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from memory import (
    Hit,
    InvalidMemoryError,
    Kind,
    ListQuery,
    Memory,
    MemoryNotFoundError,
    MemoryStore,
    MemoryStoreError,
    SearchFilter,
    State,
    backup,
)
from memory.consolidation import undo_run
from memory.export import export_json, export_markdown

from . import __version__, conversations, importers, logs
from . import settings as settings_mod
from .chat import (
    ChatEvent,
    ChatService,
    EmptyMessageError,
    Finished,
    MessageTooLongError,
    NothingToRedoError,
    Reply,
    Token,
    check_message,
    new_conversation_id,
)
from .core import Assistant
from .llm.base import CancelToken, ModelError
from .models import model_files
from .secrets import CHROMA_SERVER_TOKEN, MODEL_SERVER_KEY, SecretsUnavailableError

EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_MEMORY = 4
EXIT_NOT_FOUND = 5
SECRET_NAMES = {"model-server": MODEL_SERVER_KEY, "chroma-server": CHROMA_SERVER_TOKEN}


class UsageError(Exception):
    pass


# -- output helpers --------------------------------------------------------------------


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


def _memory_json(m: Memory) -> dict[str, Any]:
    data = asdict(m)
    data["sources"] = list(m.sources)
    data["extra"] = dict(m.extra)
    return data


def _hit_json(h: Hit) -> dict[str, Any]:
    return {
        "memory": _memory_json(h.memory),
        "score": h.score,
        "explanation": asdict(h.explanation),
    }


def _line(m: Memory) -> str:
    flags = ("📌 " if m.pinned else "") + (
        f"[{m.state.value}] " if m.state is not State.ACTIVE else ""
    )
    who = m.speaker or m.role or m.kind.value
    text = " ".join(m.text.split())
    return f"{m.id}  {_when(m.said_at)}  {m.kind.value:<7} {flags}{who}: {text[:100]}"


class Output:
    def __init__(self, out: TextIO, err: TextIO, as_json: bool) -> None:
        self.out, self.err, self.json = out, err, as_json

    def data(self, value: Any, human: Callable[[], None]) -> None:
        if self.json:
            self.out.write(json.dumps(value, ensure_ascii=False, indent=1, default=str) + "\n")
        else:
            human()

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        self.err.write(f"warning: {text}\n")


# -- parser ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mneme-cli",
        description="Mneme, an offline assistant with a lifelong memory, in your terminal.",
        epilog="Data lives in the platform's user folders, or under $MNEME_HOME if set.",
    )
    p.add_argument("--version", action="version", version=f"mneme {__version__}")
    p.add_argument("--home", help="keep all data under this folder (like $MNEME_HOME)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--debug",
        action="store_true",
        help=f"debug logging (also ${logs.DEBUG_ENV}=1): the log may then hold what you write",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    chat = sub.add_parser("chat", help="chat interactively (Ctrl+C stops a reply)")
    chat.add_argument("--temporary", action="store_true", help="neither read nor write memory")
    ask = sub.add_parser("ask", help="ask one question and print the reply")
    ask.add_argument("message")
    ask.add_argument("--show-memories", action="store_true", help="also print memories used")
    ask.add_argument("--temporary", action="store_true", help="neither read nor write memory")

    mem = sub.add_parser("memory", help="list, search and change what is remembered")
    msub = mem.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="memories, newest first")
    ls.add_argument("--kind", choices=[k.value for k in Kind])
    ls.add_argument("--state", choices=[s.value for s in State])
    ls.add_argument("--pinned", action="store_true")
    ls.add_argument("--contains", help="only memories with these words")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--offset", type=int, default=0)
    se = msub.add_parser("search", help="by meaning and words, with reasons")
    se.add_argument("query")
    se.add_argument("-k", type=int, default=8)
    se.add_argument("--kind", choices=[k.value for k in Kind])
    sh = msub.add_parser("show", help="one memory with its history and provenance")
    sh.add_argument("id")
    ed = msub.add_parser("edit", help="change a memory's text (the old text is kept in history)")
    ed.add_argument("id")
    ed.add_argument("text")
    ad = msub.add_parser("add", help="remember something by hand")
    ad.add_argument("text")
    ad.add_argument("--kind", choices=["fact", "summary"], default="fact")
    ad.add_argument("--pin", action="store_true")
    de = msub.add_parser("delete", help="forget memories for good")
    de.add_argument("ids", nargs="+")
    de.add_argument("--yes", action="store_true", help="do not ask")
    for name, text in (("pin", "always include in replies"), ("unpin", "stop pinning")):
        msub.add_parser(name, help=text).add_argument("id")
    ex = msub.add_parser("export", help="everything to a .json (lossless) or .md file")
    ex.add_argument("path", type=Path)
    im = msub.add_parser("import", help="a Mneme .json export or a ChatGPT conversations.json")
    im.add_argument("path", type=Path)
    co = msub.add_parser("consolidate", help="summarise and distil the conversations that are due")
    co.add_argument("--now", action="store_true", help="every conversation, even active ones")
    msub.add_parser("runs", help="the last consolidation runs and what each changed")
    un = msub.add_parser("undo-run", help="take back everything one consolidation run did")
    un.add_argument("run_id")
    msub.add_parser("reindex", help="re-embed every memory with the configured model")
    msub.add_parser("stats", help="counts by kind and state, size on disk")

    conv = sub.add_parser("conversations", help="list, find, rename, delete, export")
    csub = conv.add_subparsers(dest="action", metavar="ACTION", required=True)
    csub.add_parser("list", help="newest first")
    cs = csub.add_parser("search", help="by title and content")
    cs.add_argument("text")
    cw = csub.add_parser("show", help="the turns of one conversation")
    cw.add_argument("id")
    cr = csub.add_parser("rename")
    cr.add_argument("id")
    cr.add_argument("title")
    cd = csub.add_parser("delete", help="remove from the list (and, with --forget, from memory)")
    cd.add_argument("id")
    cd.add_argument("--forget", action="store_true", help="also forget its turns")
    cx = csub.add_parser("export", help="to .md or .json")
    cx.add_argument("path", type=Path)
    cx.add_argument("--id", action="append", dest="ids", help="only this one (repeatable)")

    sub.add_parser("models", help="the model files Mneme can use")
    sec = sub.add_parser("secret", help="keep a server key in the system keyring")
    sec.add_argument("action", choices=["set", "delete"])
    sec.add_argument("name", choices=sorted(SECRET_NAMES))
    st = sub.add_parser("settings", help="show or change settings (checked before saving)")
    st.add_argument("action", nargs="?", choices=["show", "set", "reset"], default="show")
    st.add_argument("key", nargs="?", help="a dotted name, e.g. model.path")
    st.add_argument("value", nargs="?", help="a JSON value or plain text")
    bk = sub.add_parser("backup", help="a consistent copy of your memory and settings")
    bk.add_argument("path", type=Path, help="a new folder")
    rs = sub.add_parser("restore", help="replace your memory and settings with a backup")
    rs.add_argument("path", type=Path, help="a folder made by backup")
    rs.add_argument("--yes", action="store_true", help="do not ask")
    sub.add_parser("doctor", help="versions, paths, and whether everything loads")
    return p


# -- chat --------------------------------------------------------------------------------


@contextlib.contextmanager
def _interrupt_cancels(cancel: CancelToken) -> Iterator[None]:
    """While a reply streams, Ctrl+C stops the reply instead of the program."""
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stream(events: Callable[..., Iterator[ChatEvent]], out: Output) -> Reply:
    """Print a reply as it streams; ``events(cancel=…)`` makes it."""
    cancel = CancelToken()
    reply: Reply | None = None
    with _interrupt_cancels(cancel):
        for event in events(cancel=cancel):
            if isinstance(event, Token) and not out.json:
                out.out.write(event.text)
                out.out.flush()
            elif isinstance(event, Finished):
                reply = event.reply
    assert reply is not None
    if not out.json:
        out.say()
        if reply.stopped:
            out.say("[stopped]")
        if reply.error:
            out.say(f"[the model failed midway: {reply.error}; what came is kept]")
        if reply.message_truncated:
            out.say("[your message was cut to fit the model's context]")
    return reply


def _print_used(reply: Reply, out: Output) -> None:
    if not reply.used:
        out.say("(no memories used)")
    for hit in reply.used:
        out.say(
            f"- {_when(hit.memory.said_at)} {hit.memory.text[:200]!r}  "
            f"[{hit.explanation.describe()}]"
        )


def _open_chat(assistant: Assistant, out: Output, *, memory: bool) -> ChatService:
    assistant.open_model()  # first: a bad model file fails fast, before the embedder loads
    if memory:
        try:
            assistant.open_memory()
        except MemoryStoreError as exc:
            out.warn(f"memory is unavailable, replying without it: {exc}")
    for warning in assistant.warnings:
        out.warn(warning)
    return assistant.chat()


def cmd_ask(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    check_message(args.message)
    chat = _open_chat(assistant, out, memory=not args.temporary)
    conversation = chat.start_temporary() if args.temporary else new_conversation_id()
    reply = _stream(functools.partial(chat.send, conversation, args.message), out)
    if out.json:
        out.data(
            {
                "reply": reply.text,
                "stopped": reply.stopped,
                "error": reply.error,
                "conversation_id": conversation,
                "memories": [_hit_json(h) for h in reply.used],
            },
            lambda: None,
        )
    elif args.show_memories:
        out.say("\nMemories used:")
        _print_used(reply, out)
    return 0


_CHAT_HELP = """commands:
  /memories        the memories the last reply used
  /forget          forget the last exchange
  /forget WORDS    find memories with these words and forget them (asks first)
  /regenerate      a new reply to your last message
  /continue        carry the last reply on
  /new             start a new conversation
  /temp            switch temporary mode (nothing read from or written to memory)
  /quit            leave"""


def cmd_chat(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    chat = _open_chat(assistant, out, memory=not args.temporary)
    temporary = args.temporary
    conversation = chat.start_temporary() if temporary else new_conversation_id()
    model = assistant.model.name if assistant.model else "?"
    out.say(
        f"Mneme ({model}; {'temporary: nothing is remembered' if temporary else 'memory on'})."
        " Type /help for commands."
    )
    last: Reply | None = None
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            out.say()
            return 0
        command, _, rest = line.strip().partition(" ")
        try:
            if command in ("/quit", "/exit"):
                return 0
            if command == "/help":
                out.say(_CHAT_HELP)
            elif command == "/memories":
                if last is None:
                    out.say("(no reply yet)")
                else:
                    _print_used(last, out)
            elif command == "/new":
                conversation = chat.start_temporary() if temporary else new_conversation_id()
                out.say("(new conversation)")
            elif command == "/temp":
                temporary = not temporary
                conversation = chat.start_temporary() if temporary else new_conversation_id()
                out.say("(temporary: nothing is remembered)" if temporary else "(memory on)")
            elif command == "/forget":
                _chat_forget(assistant, chat, conversation, rest.strip(), out)
            elif command in ("/regenerate", "/continue"):
                out.out.write("mneme> ")
                redo = chat.regenerate if command == "/regenerate" else chat.continue_reply
                last = _stream(functools.partial(redo, conversation), out)
            else:
                out.out.write("mneme> ")
                last = _stream(functools.partial(chat.send, conversation, line), out)
        except (EmptyMessageError, MessageTooLongError, NothingToRedoError) as exc:
            out.say(f"({exc})")


def _chat_forget(
    assistant: Assistant, chat: ChatService, conversation: str, words: str, out: Output
) -> None:
    store = assistant.store
    if store is None or chat.is_temporary(conversation):
        out.say("(nothing is remembered here)")
        return
    if not words:
        turns = store.conversation(conversation)[-2:]
        if not turns:
            out.say("(nothing to forget yet)")
            return
        store.delete([m.id for m in turns])
        out.say(f"(forgot the last {len(turns)} turns)")
        return
    found = store.search(words, k=20, filters=SearchFilter())
    found = [h for h in found if set(words.lower().split()) & set(h.memory.text.lower().split())]
    if not found:
        out.say("(no memory mentions that)")
        return
    for h in found:
        out.say("  " + _line(h.memory))
    if input(f"forget these {len(found)}? [y/N] ").strip().lower() == "y":
        store.delete([h.memory.id for h in found])
        out.say(f"(forgot {len(found)})")


# -- memory ------------------------------------------------------------------------------


def cmd_memory(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    action = args.action
    if action == "reindex":
        return _reindex(assistant, out)
    if action in ("consolidate", "runs", "undo-run"):
        return _consolidation(assistant, args, out)
    needs_vectors = action in ("search", "edit", "add", "import")
    store = assistant.open_memory(load_embedder=needs_vectors)
    for warning in assistant.warnings:
        out.warn(warning)
    if action == "list":
        page = store.browse(
            ListQuery(
                kinds=(Kind(args.kind),) if args.kind else (),
                states=(State(args.state),) if args.state else (),
                pinned_only=args.pinned,
                contains=args.contains,
                limit=args.limit,
                offset=args.offset,
            )
        )

        def listing() -> None:
            for m in page.items:
                out.say(_line(m))
            out.say(f"({len(page.items)} of {page.total})")

        out.data(
            {
                "total": page.total,
                "offset": page.offset,
                "memories": [_memory_json(m) for m in page.items],
            },
            listing,
        )
    elif action == "search":
        hits = store.search(
            args.query,
            k=args.k,
            filters=SearchFilter(kinds=(Kind(args.kind),) if args.kind else ()),
        )

        def ranked() -> None:
            for h in hits:
                out.say(f"{h.score:6.2f}  {_line(h.memory)}\n        {h.explanation.describe()}")

        out.data([_hit_json(h) for h in hits], ranked)
    elif action == "show":
        _show(store, args.id, out)
    elif action == "edit":
        m = store.edit(args.id, args.text)
        out.data(_memory_json(m), lambda: out.say(f"{m.id} is now version {m.version}"))
    elif action == "add":
        m = store.add_memory(Kind(args.kind), args.text, pinned=args.pin)
        out.data(_memory_json(m), lambda: out.say(m.id))
    elif action in ("pin", "unpin"):
        m = store.set_pinned(args.id, action == "pin")
        out.data(_memory_json(m), lambda: out.say(f"{m.id} {'pinned' if m.pinned else 'unpinned'}"))
    elif action == "delete":
        return _delete(store, args.ids, args.yes, out)
    elif action == "export":
        writer = export_markdown if args.path.suffix.lower() == ".md" else export_json
        n = writer(store, args.path)
        out.data(
            {"exported": n, "path": str(args.path)},
            lambda: out.say(f"exported {n} memories to {args.path}"),
        )
    elif action == "import":
        summary = importers.import_file(store, args.path, _progress(out))

        def imported() -> None:
            out.say(summary.describe())
            for reason in summary.skipped:
                out.say(f"  skipped: {reason}")

        out.data(asdict(summary), imported)
    elif action == "stats":
        st = store.stats()
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


def _progress(out: Output) -> Callable[[int, int], None] | None:
    if out.json or not out.err.isatty():
        return None

    def show(done: int, total: int) -> None:
        out.err.write(f"\r{done * 100 // max(total, 1)}%")
        out.err.flush()

    return show


def _show(store: MemoryStore, memory_id: str, out: Output) -> None:
    d = store.details(memory_id)
    data = {
        "memory": _memory_json(d.memory),
        "history": [_memory_json(m) for m in d.history],
        "sources": [m.id for m in d.sources],
        "derived": [m.id for m in d.derived],
        "used_by": [],
    }

    def human() -> None:
        m = d.memory
        out.say(_line(m))
        out.say(
            f"  said {_when(m.said_at)}, stored {_when(m.stored_at)}, version {m.version} by "
            f"{m.author.value}, importance {m.importance:.2f}, state {m.state.value}"
        )
        out.say("\n" + m.text + "\n")
        for v in d.history:
            out.say(f"  v{v.version} by {v.author.value}, {_when(v.updated_at)}: {v.text[:100]!r}")
        for label, items in (("from", d.sources), ("derived", d.derived)):
            for item in items:
                out.say(f"  {label}: {_line(item)}")

    out.data(data, human)


def _delete(store: MemoryStore, ids: Sequence[str], yes: bool, out: Output) -> int:
    found = store.get_many(ids)
    missing = [i for i in ids if i not in {m.id for m in found}]
    if missing:
        raise MemoryNotFoundError(f"no memory with id {missing[0]!r}")
    gone, trimmed = store.forget_preview(ids)
    wanted = set(ids)
    also = [m for m in gone if m.id not in wanted]
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("deleting needs --yes when not run interactively")
        for m in found:
            out.say("  " + _line(m))
        if also:
            out.say(f"{len(also)} memories come only from these and will be forgotten too:")
            for m in also:
                out.say("  " + _line(m))
        if trimmed:
            out.say(f"{len(trimmed)} facts will be kept with their other sources.")
        if input(f"forget {len(gone)} memories for good? [y/N] ").strip().lower() != "y":
            out.say("(nothing deleted)")
            return 0
    report = store.forget(ids)
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
    return 0


def _consolidation(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    if args.action == "consolidate":
        assistant.open_model()
    store = assistant.open_memory(load_embedder=args.action != "runs")
    if args.action == "runs":
        runs = store.jobs.runs(20)

        def listing() -> None:
            if not runs:
                out.say("(no runs yet)")
            for r in runs:
                counts = ", ".join(
                    f"{k} {v}" for k, v in r.note.items() if isinstance(v, int) and v
                )
                undone = " (undone)" if r.undone else ""
                out.say(f"{r.id}  {_when(r.started_at)}  {r.status}{undone}  {counts}")

        out.data([asdict(r) for r in runs], listing)
        return 0
    if args.action == "undo-run":
        undone, kept = undo_run(store, args.run_id)
        out.data(
            {"undone": undone, "kept": kept},
            lambda: out.say(
                f"undid {len(undone)} changes"
                + (f"; kept {len(kept)} you changed since" if kept else "")
            ),
        )
        return 0
    consolidator = assistant.consolidator()

    def progress(done: int, total: int, what: str) -> None:
        if not out.json:
            out.err.write(f"[{done}/{total}] {what}\n")

    report = consolidator.run(everything=args.now, progress=progress)
    note = report.as_note()
    out.data(
        {"run_id": report.run_id, "status": report.status, **note},
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


def _reindex(assistant: Assistant, out: Output) -> int:
    embedder = assistant.embedder()
    n = MemoryStore.reindex(assistant.paths.memory, embedder, progress=_progress(out))
    out.data({"reindexed": n}, lambda: out.say(f"re-indexed {n} memories with {embedder.name}"))
    return 0


# -- conversations ------------------------------------------------------------------------


def cmd_conversations(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    store = assistant.open_memory(load_embedder=False)
    action = args.action
    if action in ("list", "search"):
        found = store.conversations() if action == "list" else conversations.find(store, args.text)

        def listing() -> None:
            for c in found:
                out.say(
                    f"{c.id}  {_when(c.updated_at)}  {c.turns:>4} turns  {c.title or 'Untitled'}"
                )

        out.data([asdict(c) for c in found], listing)
    elif action == "show":
        if store.get_conversation(args.id) is None:
            raise MemoryNotFoundError(f"no conversation with id {args.id!r}")
        turns = store.conversation(args.id)

        def transcript() -> None:
            for m in turns:
                out.say(f"{m.speaker or m.role}: {m.text}\n")

        out.data([_memory_json(m) for m in turns], transcript)
    elif action == "rename":
        conversations.rename(store, args.id, args.title)
        out.data({"id": args.id, "title": args.title}, lambda: out.say("renamed"))
    elif action == "delete":
        if store.get_conversation(args.id) is None:
            raise MemoryNotFoundError(f"no conversation with id {args.id!r}")
        report = conversations.delete(store, args.id, forget=args.forget)
        out.data(
            {"forgotten": list(report.deleted)},
            lambda: out.say(
                f"deleted; {len(report.deleted)} turns forgotten"
                if args.forget
                else "deleted from the list; its turns stay in memory"
            ),
        )
    elif action == "export":
        n = conversations.export(store, args.path, args.ids)
        out.data({"exported": n}, lambda: out.say(f"exported {n} conversations to {args.path}"))
    return 0


# -- models, secrets, doctor ---------------------------------------------------------------


def cmd_models(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    files = model_files(assistant.paths.models)
    current = str(assistant.model_path())
    rows = [
        {
            "path": str(f.path),
            "bundled": f.bundled,
            "label": f.label,
            "error": f.error,
            "in_use": str(f.path) == current,
            "context_length": f.info.context_length if f.info else None,
            "size_bytes": f.info.size_bytes if f.info else None,
        }
        for f in files
    ]

    def listing() -> None:
        for r in rows:
            problem = f"  (unusable: {r['error']})" if r["error"] else ""
            out.say(f"{'*' if r['in_use'] else ' '} {r['label']}  {r['path']}{problem}")
        out.say(f"(put GGUF files in {assistant.paths.models})")

    out.data(rows, listing)
    return 0


def cmd_secret(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    secrets = assistant.secrets
    name = SECRET_NAMES[args.name]
    if args.action == "delete":
        secrets.delete(name)
        out.say(f"{args.name} key deleted")
        return 0
    value = getpass.getpass(f"{args.name} key: ") if sys.stdin.isatty() else sys.stdin.readline()
    secrets.set(name, value.strip())
    out.say(f"{args.name} key saved in the {secrets.describe()}")
    return 0


def _setting_value(text: str) -> Any:
    """``4096`` is a number, ``true`` a bool, ``null`` empty; anything else is text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _dotted(values: dict[str, Any], key: str) -> Any:
    found: Any = values
    for part in key.split("."):
        if not isinstance(found, dict) or part not in found:
            raise UsageError(f"{key}: no such setting")
        found = found[part]
    return found


def cmd_settings(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    current = assistant.settings.model_dump()
    if args.action == "show":
        shown = _dotted(current, args.key) if args.key else current
        out.data(shown, lambda: out.say(json.dumps(shown, indent=2, ensure_ascii=False)))
        return 0
    if not args.key or (args.action == "set" and args.value is None):
        raise UsageError(
            f"usage: mneme-cli settings {args.action} KEY" + " VALUE" * (args.action == "set")
        )
    _dotted(current, args.key)
    if args.action == "set":
        value = _setting_value(args.value)
    else:
        value = _dotted(settings_mod.Settings().model_dump(), args.key)
    assistant.apply_settings(settings_mod.updated(assistant.settings, {args.key: value}))
    out.say(f"{args.key} = {json.dumps(value, ensure_ascii=False)}")
    return 0


def cmd_backup(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    info = assistant.backup(args.path)
    out.data(
        {"path": str(args.path), "memories": info.memories, "size_bytes": info.size_bytes},
        lambda: out.say(
            f"backed up {info.memories:,} memories and your settings to {args.path} "
            f"({info.size_bytes / 2**20:.1f} MB)"
        ),
    )
    return 0


def cmd_restore(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    info = backup.read_info(args.path / "memory")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("restoring needs --yes when not run interactively")
        when = _when(info.created_at)
        question = f"replace your memory with the backup of {when} ({info.memories:,} memories)?"
        if input(f"{question} [y/N] ").strip().lower() != "y":
            out.say("(nothing restored)")
            return 0
    _, aside = backup.restore(args.path / "memory", assistant.paths.memory, assistant.embedder())
    settings_backup = args.path / "settings.json"
    if settings_backup.exists():
        settings_mod.validate(json.loads(settings_backup.read_text(encoding="utf-8")))
        current = assistant.paths.settings_file
        if current.exists():
            current.replace(current.with_name(f"{current.name}.before-restore"))
        shutil.copy2(settings_backup, current)
    out.data(
        {"restored": info.memories, "previous": str(aside) if aside else None},
        lambda: out.say(
            f"restored {info.memories:,} memories"
            + (f"; your previous memory is kept in {aside}" if aside else "")
        ),
    )
    return 0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def cmd_doctor(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    report: dict[str, Any] = {
        "mneme": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {
            p: _version(p)
            for p in (
                "llama-cpp-python",
                "chromadb",
                "sentence-transformers",
                "torch",
                "PySide6-Essentials",
                "keyring",
            )
        },
        "paths": {k: str(v) for k, v in asdict(assistant.paths).items()},
        "settings_warnings": list(assistant.warnings),
        "keyring": assistant.secrets.describe(),
    }
    ok = True
    started = time.perf_counter()
    try:
        model = assistant.open_model()
        report["model"] = {
            "name": model.name,
            "context_length": model.context_length,
            "loads": True,
            "load_s": round(time.perf_counter() - started, 2),
            "path": None if assistant.settings.server.enabled else str(assistant.model_path()),
        }
    except ModelError as exc:
        report["model"] = {"loads": False, "error": str(exc)}
        ok = False
    started = time.perf_counter()
    try:
        store = assistant.open_memory()
        st = store.stats()
        report["memory"] = {
            "opens": True,
            "load_s": round(time.perf_counter() - started, 2),
            "embedder": st.embedder,
            "memories": sum(st.by_kind.values()),
            "size_bytes": st.size_bytes,
            "server": assistant.settings.memory.server_url,
        }
    except MemoryStoreError as exc:
        report["memory"] = {"opens": False, "error": str(exc)}
        ok = False

    def human() -> None:
        out.say(f"mneme {report['mneme']} on Python {report['python']} ({report['platform']})")
        for package, v in report["packages"].items():
            out.say(f"  {package}: {v}")
        for name, path in report["paths"].items():
            out.say(f"  {name} folder: {path}")
        m = report["model"]
        out.say(
            f"model: {m['name']} ({m['context_length']} tokens), loaded in {m['load_s']}s"
            if m["loads"]
            else f"model: NOT USABLE — {m['error']}"
        )
        mm = report["memory"]
        out.say(
            f"memory: {mm['memories']} memories, {mm['size_bytes'] / 2**20:.1f} MB, "
            f"embedder {mm['embedder']}, opened in {mm['load_s']}s"
            if mm["opens"]
            else f"memory: NOT USABLE — {mm['error']}"
        )
        out.say(f"secrets: {report['keyring']}")
        for w in report["settings_warnings"]:
            out.say(f"warning: {w}")

    out.data(report, human)
    return 0 if ok else EXIT_MODEL if not report["model"].get("loads") else EXIT_MEMORY


COMMANDS: dict[str, Callable[[Assistant, argparse.Namespace, Output], int]] = {
    "ask": cmd_ask,
    "chat": cmd_chat,
    "memory": cmd_memory,
    "conversations": cmd_conversations,
    "models": cmd_models,
    "secret": cmd_secret,
    "settings": cmd_settings,
    "backup": cmd_backup,
    "restore": cmd_restore,
    "doctor": cmd_doctor,
}


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    output = Output(out or sys.stdout, err or sys.stderr, as_json=False)
    args = _parser().parse_args(argv)
    output.json = args.json
    if args.command is None:
        _parser().print_help(output.out)
        return EXIT_USAGE
    previous_umask = os.umask(0o077)  # everything Mneme writes is private to the user
    try:
        assistant = Assistant.from_environment(args.home)
        log_setup = logs.setup(assistant.paths, debug=True if args.debug else None)
        try:
            return _run(assistant, args, output)
        finally:
            log_setup.close()
    finally:
        os.umask(previous_umask)


def _run(assistant: Assistant, args: argparse.Namespace, output: Output) -> int:
    try:
        return COMMANDS[args.command](assistant, args, output)
    except (
        EmptyMessageError,
        MessageTooLongError,
        NothingToRedoError,
        UsageError,
        InvalidMemoryError,
        importers.ImportFormatError,
        ValueError,
    ) as exc:
        output.err.write(f"error: {exc}\n")
        return EXIT_USAGE
    except MemoryNotFoundError as exc:
        output.err.write(f"error: {exc}\n")
        return EXIT_NOT_FOUND
    except ModelError as exc:
        output.err.write(f"error: the chat model cannot be used: {exc}\n")
        return EXIT_MODEL
    except MemoryStoreError as exc:
        output.err.write(f"error: the memory cannot be used: {exc}\n")
        return EXIT_MEMORY
    except SecretsUnavailableError as exc:
        output.err.write(f"error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:  # a file named on the command line
        output.err.write(f"error: {exc.filename or ''}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    finally:
        assistant.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
