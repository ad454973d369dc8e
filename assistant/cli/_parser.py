"""The command line's words, options and help; what each does is in the command modules."""

from __future__ import annotations

import argparse
from pathlib import Path

from mneme.assistant import __version__, logs
from mneme.assistant.contradictions import Decision
from mneme.memory import Kind, State, TranscriptChoice

SECRET_NAMES = ("model-server", "chroma-server")
IN_CONVERSATIONS = {
    "keep": TranscriptChoice.KEEP_WORDS,
    "hide": TranscriptChoice.HIDE_WORDS,
    "remove": TranscriptChoice.REMOVE_TURN,
}


def build() -> argparse.ArgumentParser:
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
    ask.add_argument(
        "--show-prompt",
        action="store_true",
        help="print what the model would be given, and stop (nothing is sent or remembered)",
    )
    ask.add_argument("--temporary", action="store_true", help="neither read nor write memory")

    _memory(sub.add_parser("memory", help="list, search and change what is remembered"))
    _conversations(sub.add_parser("conversations", help="list, find, rename, delete, export"))
    _models(sub.add_parser("models", help="the model files Mneme can use, and choosing one"))

    sec = sub.add_parser("secret", help="keep a server key in the system keyring")
    sec.add_argument("action", choices=["set", "delete", "status"])
    sec.add_argument("name", nargs="?", choices=SECRET_NAMES)
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


def _memory(mem: argparse.ArgumentParser) -> None:
    msub = mem.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="memories, newest first")
    ls.add_argument("--kind", choices=[k.value for k in Kind])
    ls.add_argument("--state", choices=[s.value for s in State])
    ls.add_argument("--pinned", action="store_true")
    ls.add_argument("--contains", help="only memories with these words")
    ls.add_argument(
        "--by-model", action="store_true", help="only what a model wrote (to review, then delete)"
    )
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--offset", type=int, default=0)
    se = msub.add_parser("search", help="by meaning and words, with reasons")
    se.add_argument("query")
    se.add_argument("-k", type=int, default=8)
    se.add_argument("--kind", choices=[k.value for k in Kind])
    sh = msub.add_parser("show", help="one memory with its history, provenance and runs")
    sh.add_argument("id")
    ed = msub.add_parser("edit", help="change a memory (the old text is kept in history)")
    ed.add_argument("id")
    ed.add_argument("text", nargs="?", help="the new text")
    ed.add_argument("--importance", type=float, help="from 0 to 1")
    rv = msub.add_parser("restore-version", help="make an earlier version current again")
    rv.add_argument("id")
    rv.add_argument("version", type=int)
    ad = msub.add_parser("add", help="remember something by hand")
    ad.add_argument("text")
    ad.add_argument("--kind", choices=["fact", "summary"], default="fact")
    ad.add_argument("--pin", action="store_true")
    de = msub.add_parser("delete", help="forget memories for good (and what only they support)")
    de.add_argument("ids", nargs="+")
    fa = msub.add_parser("forget-about", help="find everything about a topic and forget it")
    fa.add_argument("topic")
    fa.add_argument(
        "--include-pinned", action="store_true", help="forget pinned memories about it too"
    )
    for forgetting in (de, fa):
        forgetting.add_argument("--yes", action="store_true", help="do not ask")
        forgetting.add_argument(
            "--in-conversations",
            choices=list(IN_CONVERSATIONS),
            default="keep",
            help="what the conversations the forgotten turns were said in keep: their words, "
            "marked as not remembered (keep, the default), a gap (hide), or nothing (remove)",
        )
    for name, text in (("pin", "always include in replies"), ("unpin", "stop pinning")):
        msub.add_parser(name, help=text).add_argument("ids", nargs="+")
    msub.add_parser("conflicts", help="facts that disagree, waiting for you to settle them")
    sd = msub.add_parser("settle", help="settle a disagreement listed by `memory conflicts`")
    sd.add_argument("key", help="the id of the newer fact of the pair")
    sd.add_argument("decision", choices=[d.value for d in Decision])
    ex = msub.add_parser("export", help="everything to a .json (lossless) or .md file")
    ex.add_argument("path", type=Path)
    im = msub.add_parser("import", help="a Mneme .json export or a ChatGPT conversations.json")
    im.add_argument("path", type=Path)
    co = msub.add_parser("consolidate", help="summarise and distil the conversations that are due")
    co.add_argument("--now", action="store_true", help="every conversation, even active ones")
    mc = msub.add_parser(
        "model-check", help="what the model may write into memory, and why (see Settings)"
    )
    mc.add_argument("--run", action="store_true", help="check the model now (again)")
    msub.add_parser("runs", help="the last consolidation runs and what each changed")
    un = msub.add_parser("undo-run", help="take back everything one consolidation run did")
    un.add_argument("run_id")
    msub.add_parser("reindex", help="re-embed every memory with the configured model")
    msub.add_parser("stats", help="counts by kind and state, size on disk")


def _conversations(conv: argparse.ArgumentParser) -> None:
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


def _models(models: argparse.ArgumentParser) -> None:
    msub = models.add_subparsers(dest="action", metavar="ACTION")
    msub.add_parser("list", help="the bundled model, the models folder, the one in use")
    us = msub.add_parser("use", help="chat with this model file from now on")
    us.add_argument("path", help='a GGUF file, or "bundled"')
    ad = msub.add_parser("add", help="use a GGUF file where it is (same as use)")
    ad.add_argument("path", type=Path)
    rm = msub.add_parser("remove", help="delete a downloaded model file")
    rm.add_argument("path", type=Path)
    rm.add_argument("--yes", action="store_true", help="do not ask")
    dl = msub.add_parser("download", help="fetch a GGUF model into the models folder")
    dl.add_argument("url")
    dl.add_argument("--sha256", help="the file's expected SHA-256")
    dl.add_argument("--name", help="the file name to keep it under")
