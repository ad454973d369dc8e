"""``mneme-cli ask`` and ``mneme-cli chat``: replies in a terminal, through the core's chat."""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from mneme.assistant.chat import (
    ChatEvent,
    ChatService,
    Finished,
    NothingToRedoError,
    Reply,
    Token,
    check_message,
    new_conversation_id,
)
from mneme.assistant.errors import InvalidRequestError
from mneme.assistant.llm.base import CancelToken
from mneme.assistant.words import describe, why_chosen
from mneme.memory import MemoryStoreError

from ._commands import command
from ._output import Output, hit_json, line

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant


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
        why = why_chosen(hit.explanation, pinned=hit.memory.pinned)
        out.say(f"- {describe(hit.memory, 200)}  ({why})")


class _Behind:
    """A call run on a daemon thread while the caller goes on; :meth:`result` waits
    for it and raises what it raised (a process that fails first does not wait)."""

    def __init__(self, call: Callable[[], object]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as exc:  # handed to the caller
            self._error = exc

    def result(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _open_chat(assistant: Assistant, out: Output, *, memory: bool) -> ChatService:
    # the embedding model (seconds) loads while the chat model and the memory open
    search = _Behind(assistant.prepare_search) if memory else None
    assistant.open_model()  # a bad model file fails fast, before the embedder has loaded
    if search is not None:
        try:
            assistant.open_memory(load_embedder=False).connect()
            search.result()
        except MemoryStoreError as exc:
            out.warn(f"memory is unavailable, replying without it: {exc}")
    out.warnings(assistant.warnings)
    return assistant.chat()


def _show_prompt(chat: ChatService, message: str, out: Output, *, temporary: bool) -> int:
    """What the model would be given for ``message``, without asking it or storing it."""
    conversation = chat.start_temporary() if temporary else new_conversation_id()
    prompt = chat.prompt_for(conversation, message)
    out.data(
        {
            "messages": [{"role": m.role, "content": m.content} for m in prompt.messages],
            "tokens": prompt.tokens,
            "memories": [hit_json(h) for h in prompt.memories],
        },
        lambda: out.say(
            "\n\n".join(f"[{m.role}]\n{m.content}" for m in prompt.messages)
            + f"\n\n({prompt.tokens:,} tokens; nothing was sent or remembered)"
        ),
    )
    return 0


@command("ask", does=("chat.send", "chat.start_temporary", "chat.prompt_for"))
def ask(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    check_message(args.message)
    chat = _open_chat(assistant, out, memory=not args.temporary)
    if args.show_prompt:
        return _show_prompt(chat, args.message, out, temporary=args.temporary)
    fit = chat.fit(args.message)
    if not fit.fits:  # said before the model spends its time reading it
        out.warn(
            "your message is longer than the model can read: it reads about the first "
            f"{fit.read_share:.0%}, the rest is left out"
        )
    conversation = chat.start_temporary() if args.temporary else new_conversation_id()
    reply = _stream(functools.partial(chat.send, conversation, args.message), out)
    if out.json:
        out.data(
            {
                "reply": reply.text,
                "stopped": reply.stopped,
                "error": reply.error,
                "conversation_id": conversation,
                "memories": [hit_json(h) for h in reply.used],
            },
            lambda: None,
        )
    elif args.show_memories:
        out.say("\nMemories used:")
        _print_used(reply, out)
    return 0


_CHAT_HELP = """commands:
  /memories        the memories the last reply used
  /forget          forget the last exchange (and what was learnt only from it)
  /forget WORDS    find the memories about these words and forget them (asks first)
  /undo            take the last forgetting back (for two minutes)
  /edit TEXT       change your last message to TEXT and reply again
  /regenerate      a new reply to your last message
  /continue        carry the last reply on
  /new             start a new conversation
  /temp            switch temporary mode (nothing read from or written to memory)
  /quit            leave"""


class _Session:
    """One terminal chat: the conversation in progress and the last reply."""

    def __init__(self, assistant: Assistant, chat: ChatService, out: Output, temporary: bool):
        self.assistant, self.chat, self.out = assistant, chat, out
        self.temporary = temporary
        self.conversation = self._new()
        self.last: Reply | None = None

    def _new(self) -> str:
        return self.chat.start_temporary() if self.temporary else new_conversation_id()

    def restart(self, *, temporary: bool) -> None:
        if self.chat.is_temporary(self.conversation):
            self.chat.end_temporary(self.conversation)
        self.temporary = temporary
        self.conversation = self._new()
        self.last = None

    def reply(self, events: Callable[..., Iterator[ChatEvent]]) -> None:
        self.out.out.write("mneme> ")
        self.last = _stream(events, self.out)

    def forget(self, words: str) -> None:
        """``/forget``: true forgetting through the core, like the window's."""
        if not self.assistant.memory_open or self.chat.is_temporary(self.conversation):
            self.out.say("(nothing is remembered here)")
            return
        if not words:
            turns = self.assistant.conversations.turns(self.conversation)
            last = [t.id for t in turns if t.memory is not None][-2:]
            if not last:
                self.out.say("(nothing to forget yet)")
                return
            report = self.assistant.memories.forget(last)
            self.out.say(
                f"(forgot the last {len(last)} turns; {len(report.deleted)} memories; the "
                "words stay in this conversation, marked as not remembered; /undo takes it back)"
            )
            return
        found = self.assistant.memories.find_about(words)
        chosen = [m for m in found if m.left_out is None]
        for match in found:
            kept = f"  (kept: {match.left_out})" if match.left_out else ""
            self.out.say("  " + line(match.memory) + kept)
        if not chosen:
            self.out.say("(no memory is about that)" if not found else "(nothing forgotten)")
            return
        if input(f"forget these {len(chosen)}? [y/N] ").strip().lower() == "y":
            report = self.assistant.memories.forget([m.memory.id for m in chosen])
            self.out.say(f"(forgot {len(report.deleted)} memories; /undo takes it back)")


@command(
    "chat",
    does=(
        "chat.send",
        "chat.regenerate",
        "chat.continue_reply",
        "chat.edit_and_resend",
        "chat.start_temporary",
        "chat.end_temporary",
        "assistant.undo",
    ),
)
def chat(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
    session = _Session(
        assistant, _open_chat(assistant, out, memory=not args.temporary), out, args.temporary
    )
    model = assistant.model.name if assistant.model else "?"
    mode = "temporary: nothing is remembered" if session.temporary else "memory on"
    out.say(f"Mneme ({model}; {mode}). Type /help for commands.")
    while True:
        try:
            text = input("you> ")
        except (EOFError, KeyboardInterrupt):
            out.say()
            return 0
        word, _, rest = text.strip().partition(" ")
        conversation, service = session.conversation, session.chat
        try:
            if word in ("/quit", "/exit"):
                return 0
            if word == "/help":
                out.say(_CHAT_HELP)
            elif word == "/memories" and session.last is None:
                out.say("(no reply yet)")
            elif word == "/memories" and session.last is not None:
                _print_used(session.last, out)
            elif word == "/new":
                session.restart(temporary=session.temporary)
                out.say("(new conversation)")
            elif word == "/temp":
                session.restart(temporary=not session.temporary)
                out.say(
                    "(temporary: nothing is remembered)" if session.temporary else "(memory on)"
                )
            elif word == "/forget":
                session.forget(rest.strip())
            elif word == "/undo":
                out.say(f"(took back {assistant.undo()})")
            elif word == "/edit":
                users = [
                    i for i, (role, _) in enumerate(service.turns(conversation)) if role == "user"
                ]
                if not users:
                    raise NothingToRedoError("there is no message of yours to edit yet")
                session.reply(
                    functools.partial(service.edit_and_resend, conversation, users[-1], rest)
                )
            elif word in ("/regenerate", "/continue"):
                redo = service.regenerate if word == "/regenerate" else service.continue_reply
                session.reply(functools.partial(redo, conversation))
            else:
                session.reply(functools.partial(service.send, conversation, text))
        except InvalidRequestError as exc:  # an empty message, nothing to redo or undo…
            out.say(f"({exc})")
