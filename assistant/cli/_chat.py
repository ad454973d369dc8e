"""``mneme-cli ask`` and ``mneme-cli chat``: replies in a terminal, through the core's chat."""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from mneme.assistant.chat import (
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
from mneme.assistant.llm.base import CancelToken
from mneme.memory import MemoryStoreError

from ._commands import command
from ._output import Output, hit_json, line, when

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
        out.say(
            f"- {when(hit.memory.said_at)} {hit.memory.text[:200]!r}  "
            f"[{hit.explanation.describe()}]"
        )


def _open_chat(assistant: Assistant, out: Output, *, memory: bool) -> ChatService:
    assistant.open_model()  # first: a bad model file fails fast, before the embedder loads
    if memory:
        try:
            assistant.open_memory()
        except MemoryStoreError as exc:
            out.warn(f"memory is unavailable, replying without it: {exc}")
    out.warnings(assistant.warnings)
    return assistant.chat()


@command("ask", does=("chat.send", "chat.start_temporary"))
def ask(assistant: Assistant, args: argparse.Namespace, out: Output) -> int:
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
            turns = self.assistant.conversations.turns(self.conversation)[-2:]
            if not turns:
                self.out.say("(nothing to forget yet)")
                return
            report = self.assistant.memories.forget([t.memory.id for t in turns])
            self.out.say(f"(forgot the last {len(turns)} turns; {len(report.deleted)} memories)")
            return
        found = self.assistant.memories.find_about(words)
        if not found:
            self.out.say("(no memory is about that)")
            return
        for hit in found:
            self.out.say("  " + line(hit.memory))
        if input(f"forget these {len(found)}? [y/N] ").strip().lower() == "y":
            report = self.assistant.memories.forget([h.memory.id for h in found])
            self.out.say(f"(forgot {len(report.deleted)} memories)")


@command(
    "chat",
    does=(
        "chat.send",
        "chat.regenerate",
        "chat.continue_reply",
        "chat.edit_and_resend",
        "chat.start_temporary",
        "chat.end_temporary",
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
        except (EmptyMessageError, MessageTooLongError, NothingToRedoError) as exc:
            out.say(f"({exc})")
