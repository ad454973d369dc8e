"""Export files the tests make: large enough to be read in many chunks."""

from __future__ import annotations

import json
from pathlib import Path


def big_chatgpt_export(path: Path, conversations: int) -> None:
    """Conversations of one short turn each, padded by a long system message (which
    is not imported), so the file is read in many chunks."""
    items = []
    for i in range(conversations):
        system = {"author": {"role": "system"}, "content": {"parts": ["x" * 60_000]}}
        user = {
            "id": f"u{i}",
            "author": {"role": "user"},
            "create_time": 1_714_550_000.0 + i,
            "content": {"content_type": "text", "parts": [f"Garden note number {i}."]},
        }
        items.append(
            {
                "id": f"big-{i}",
                "title": f"Garden {i}",
                "create_time": 1_714_550_000.0 + i,
                "current_node": f"u{i}",
                "mapping": {
                    f"s{i}": {"id": f"s{i}", "message": system, "parent": None},
                    f"u{i}": {"id": f"u{i}", "message": user, "parent": f"s{i}"},
                },
            }
        )
    path.write_text(json.dumps(items))
