"""mneme-cli: the assistant in a terminal, and its memory for scripts.

A frontend of the core (:mod:`mneme.assistant.core`), like the window: every
command calls core actions and nothing else (the table in ``_commands``
says which), so a rule holds the same here as there.

Exit codes: 0 success, 1 unexpected error, 2 bad usage or input, 3 the model
cannot be used, 4 the memory cannot be used, 5 no such memory or conversation.
``--json`` prints machine-readable output where a script would want it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from mneme.assistant import logs
from mneme.assistant.core import Assistant
from mneme.assistant.errors import InvalidRequestError, NotReadyError, Part, explain
from mneme.assistant.llm.base import ModelError
from mneme.memory import MemoryNotFoundError, MemoryStoreError

from . import _admin, _chat, _conversations, _memory, _models, _parser
from ._commands import COMMANDS, Command, covered
from ._output import Output, UsageError

EXIT_USAGE = 2
EXIT_MODEL = _admin.EXIT_MODEL
EXIT_MEMORY = _admin.EXIT_MEMORY
EXIT_NOT_FOUND = 5

_MODULES = (_admin, _chat, _conversations, _memory, _models)
"""Imported for the commands they register."""


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    output = Output(out or sys.stdout, err or sys.stderr, as_json=False)
    parser = _parser.build()
    args = parser.parse_args(argv)
    output.json = args.json
    if args.command is None:
        parser.print_help(output.out)
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


def _command(args: argparse.Namespace) -> Command:
    action = getattr(args, "action", None)
    found = COMMANDS.get((args.command, action)) if isinstance(action, str) else None
    return found or COMMANDS[(args.command,)]


def _run(assistant: Assistant, args: argparse.Namespace, output: Output) -> int:
    try:
        return _command(args).handler(assistant, args, output)
    except (UsageError, InvalidRequestError, ValueError) as exc:
        output.err.write(f"error: {exc}\n")
        return EXIT_USAGE
    except MemoryNotFoundError as exc:
        output.err.write(f"error: {exc}\n")
        return EXIT_NOT_FOUND
    except NotReadyError as exc:
        output.err.write(f"error: {explain(exc)}\n")
        return EXIT_MODEL if exc.part is Part.MODEL else EXIT_MEMORY
    except ModelError as exc:
        output.err.write(f"error: {explain(exc)}\n")
        return EXIT_MODEL
    except MemoryStoreError as exc:
        output.err.write(f"error: {explain(exc)}\n")
        return EXIT_MEMORY
    except OSError as exc:  # a file named on the command line
        output.err.write(f"error: {explain(exc)}\n")
        return EXIT_USAGE
    finally:
        output.warnings(assistant.warnings)
        assistant.close()


__all__ = ["EXIT_MEMORY", "EXIT_MODEL", "EXIT_NOT_FOUND", "EXIT_USAGE", "covered", "main"]
