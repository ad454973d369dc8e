"""Model replies as Markdown, safely: no raw HTML, code blocks with a copy link.

Replies are rendered by Qt's own Markdown reader (md4c, GitHub dialect) with
HTML switched off, so a reply or a remembered text can never inject markup.
Each fenced code block is followed by a ``mneme-copy:N`` link; the view
resolves N to the block's text, which is kept here rather than in the link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtGui import QTextDocument

COPY_SCHEME = "mneme-copy"
_FENCE = re.compile(
    r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[^\n]*\n"  # opening fence and info string
    r"(?P<body>.*?)"
    r"^(?P=indent)(?P=fence)[ \t]*$",  # the same fence closes it
    re.S | re.M,
)

FEATURES = QTextDocument.MarkdownFeature(
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub.value
    | QTextDocument.MarkdownFeature.MarkdownNoHTML.value
)


@dataclass(frozen=True, slots=True)
class RenderedMarkdown:
    markdown: str
    """The text with a copy link after each closed code block."""
    code_blocks: tuple[str, ...]


def with_copy_links(text: str) -> RenderedMarkdown:
    blocks: list[str] = []

    def link(match: re.Match[str]) -> str:
        blocks.append(match.group("body").rstrip("\n"))
        return f"{match.group(0)}\n\n[Copy code]({COPY_SCHEME}:{len(blocks) - 1})\n"

    return RenderedMarkdown(_FENCE.sub(link, text), tuple(blocks))


def set_markdown(document: QTextDocument, text: str) -> tuple[str, ...]:
    """Render ``text`` into ``document``; returns its code blocks, by copy-link number."""
    rendered = with_copy_links(text)
    document.setMarkdown(rendered.markdown, FEATURES)
    return rendered.code_blocks
