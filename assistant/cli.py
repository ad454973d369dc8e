"""mneme-cli: the assistant in a terminal.

Exit codes: 0 success, 1 unexpected error, 2 usage, 3 the model cannot be
used, 4 the memory cannot be used.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from memory import MemoryStoreError

from . import __version__
from .chat import (
    ChatService,
    EmptyMessageError,
    Finished,
    MessageTooLongError,
    Reply,
    Token,
    check_message,
    new_conversation_id,
)
from .core import Assistant
from .llm.base import CancelToken, ModelError

EXIT_MODEL = 3
EXIT_MEMORY = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mneme-cli",
        description="Mneme, an offline assistant with a lifelong memory, in your terminal.",
        epilog="Data lives in the platform's user folders, or under $MNEME_HOME if set.",
    )
    parser.add_argument("--version", action="version", version=f"mneme {__version__}")
    parser.add_argument("--home", help="keep all data under this folder (like $MNEME_HOME)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = sub.add_parser("chat", help="chat interactively (Ctrl+C stops a reply)")
    chat.add_argument(
        "--temporary", action="store_true", help="neither read nor write long-term memory"
    )
    ask = sub.add_parser("ask", help="ask one question and print the reply")
    ask.add_argument("message", help="the message to send")
    ask.add_argument(
        "--show-memories", action="store_true", help="also print the memories the reply used"
    )
    ask.add_argument(
        "--temporary", action="store_true", help="neither read nor write long-term memory"
    )
    return parser


@contextlib.contextmanager
def _interrupt_cancels(cancel: CancelToken) -> Iterator[None]:
    """While a reply streams, Ctrl+C stops the reply instead of the program."""
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stream(chat: ChatService, conversation_id: str, text: str, out: TextIO) -> Reply:
    cancel = CancelToken()
    reply: Reply | None = None
    with _interrupt_cancels(cancel):
        for event in chat.send(conversation_id, text, cancel=cancel):
            if isinstance(event, Token):
                out.write(event.text)
                out.flush()
            elif isinstance(event, Finished):
                reply = event.reply
    out.write("\n")
    assert reply is not None
    if reply.stopped:
        out.write("[stopped]\n")
    if reply.message_truncated:
        out.write("[your message was cut to fit the model's context]\n")
    return reply


def _print_memories(reply: Reply, out: TextIO) -> None:
    if not reply.used:
        out.write("(no memories used)\n")
    for hit in reply.used:
        out.write(f"- {hit.memory.text!r}  [{hit.explanation.describe()}]\n")


def _open(assistant: Assistant, *, memory: bool, err: TextIO) -> ChatService:
    for warning in assistant.warnings:
        err.write(f"warning: {warning}\n")
    assistant.open_model()  # first: a bad model file fails fast, before the embedder loads
    if memory:
        try:
            assistant.open_memory()
        except MemoryStoreError as exc:
            err.write(f"warning: memory is unavailable, replying without it: {exc}\n")
    return assistant.chat()


def _cmd_ask(assistant: Assistant, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    check_message(args.message)
    chat = _open(assistant, memory=not args.temporary, err=err)
    conversation = chat.start_temporary() if args.temporary else new_conversation_id()
    reply = _stream(chat, conversation, args.message, out)
    if args.show_memories:
        out.write("\nMemories used:\n")
        _print_memories(reply, out)
    return 0


def _cmd_chat(assistant: Assistant, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    chat = _open(assistant, memory=not args.temporary, err=err)
    conversation = chat.start_temporary() if args.temporary else new_conversation_id()
    mode = "temporary chat: nothing is remembered" if args.temporary else "memory on"
    out.write(
        f"Mneme ({assistant.backend.name if assistant.backend else '?'}, {mode}). "
        "Type /help for commands, /quit to leave.\n"
    )
    last: Reply | None = None
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            out.write("\n")
            return 0
        command = line.strip()
        if command in ("/quit", "/exit"):
            return 0
        if command == "/help":
            out.write("/memories  the memories the last reply used\n/quit  leave\n")
            continue
        if command == "/memories":
            if last is None:
                out.write("(no reply yet)\n")
            else:
                _print_memories(last, out)
            continue
        try:
            out.write("mneme> ")
            last = _stream(chat, conversation, line, out)
        except (EmptyMessageError, MessageTooLongError) as exc:
            out.write(f"\n{exc}\n")


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help(out)
        return 2
    assistant = Assistant.from_environment(args.home)
    try:
        if args.command == "ask":
            return _cmd_ask(assistant, args, out, err)
        return _cmd_chat(assistant, args, out, err)
    except (EmptyMessageError, MessageTooLongError) as exc:
        err.write(f"error: {exc}\n")
        return 2
    except ModelError as exc:
        err.write(f"error: the chat model cannot be used: {exc}\n")
        return EXIT_MODEL
    except MemoryStoreError as exc:
        err.write(f"error: the memory cannot be used: {exc}\n")
        return EXIT_MEMORY
    finally:
        assistant.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
