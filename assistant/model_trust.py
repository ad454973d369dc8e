"""Which model may write what into the memory: the self-check's verdicts, kept per model
(with the other thing measured of each model: how fast it reads a prompt).

The memory engine's :func:`~mneme.memory.consolidation.selfcheck.check_model`
measures a model on fixed conversations; this keeps each verdict in
``model-checks.json`` in the data folder, keyed by what the model *is* (the
SHA-256 of a local GGUF, so a renamed file keeps its verdict and a replaced
one is checked again; a server's address and model name), and combines it
with the person's choice in Settings (``memory.model_writes``): "automatic"
follows the verdict, anything else overrides it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from mneme.memory.consolidation import ModelUse
from mneme.memory.consolidation.selfcheck import ModelCheck

FILE_NAME = "model-checks.json"
AUTOMATIC = "automatic"
"""The setting ``memory.model_writes`` that follows the self-check."""
_HASH_CHUNK = 1 << 20


class Basis(StrEnum):
    """Why a :class:`ModelUse` applies."""

    CHOSEN = "chosen"
    """The person chose it in Settings."""
    CHECKED = "checked"
    """The model's self-check decided it."""
    UNCHECKED = "unchecked"
    """Not checked yet: until it is, only the person's own statements are kept."""


WORDS = {
    ModelUse.FACTS_AND_SUMMARIES: "the model writes facts and summaries",
    ModelUse.SUMMARIES: "facts are your own statements; the model writes summaries",
    ModelUse.NOTHING: "facts are your own statements; the model writes nothing",
}


@dataclass(frozen=True, slots=True)
class Trust:
    """What the model may write into the memory now, and why."""

    use: ModelUse
    basis: Basis
    model: str
    """The model's readable name."""
    check: ModelCheck | None
    """The last self-check of this model, if any (also when the person overrode it)."""

    def explain(self) -> str:
        """One paragraph for Settings and the command line."""
        now = f"Now: {WORDS[self.use]}"
        if self.basis is Basis.CHOSEN:
            head = f"{now} (your choice)."
        elif self.basis is Basis.UNCHECKED:
            head = (
                f"{now}, until {self.model} has been checked (at the next tidy-up, a minute "
                "or so in the background)."
            )
        else:
            head = f"{now}, because of how {self.model} did on the check:"
        if self.check is None:
            return head
        return " ".join((head, *self.check.reasons))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ModelChecks:
    """The verdicts on file, one per model identity (hashes cached by path, size and
    modification time so a multi-gigabyte file is read once)."""

    def __init__(self, data: Path) -> None:
        self.file = data / FILE_NAME
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            found = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"verdicts": {}, "hashes": {}}  # none yet, or unreadable: check again
        return found if isinstance(found, dict) else {"verdicts": {}, "hashes": {}}

    def _write(self, content: dict[str, Any]) -> None:
        part = self.file.with_suffix(".part")
        part.write_text(json.dumps(content, indent=1), encoding="utf-8")
        os.replace(part, self.file)

    def identity(self, path: Path | None, server: str | None = None) -> str:
        """What a verdict is kept under: ``server <url> <model>``, or the GGUF's SHA-256."""
        if server is not None:
            return f"server {server}"
        assert path is not None
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        with self._lock:
            content = self._read()
            hashes = content.setdefault("hashes", {})
            if key not in hashes:
                hashes[key] = f"sha256 {_sha256(path)}"
                self._write(content)
            return str(hashes[key])

    def verdict(self, identity: str) -> ModelCheck | None:
        with self._lock:
            raw = self._read().get("verdicts", {}).get(identity)
        if not isinstance(raw, dict):
            return None
        try:
            raw["use"] = ModelUse(raw["use"])
            raw["reasons"] = tuple(raw["reasons"])
            raw["examples"] = tuple(raw.get("examples", ()))
            return ModelCheck(**raw)
        except (KeyError, TypeError, ValueError):
            return None  # an older or damaged entry: the model is checked again

    def keep(self, identity: str, check: ModelCheck) -> None:
        with self._lock:
            content = self._read()
            content.setdefault("verdicts", {})[identity] = asdict(check)
            self._write(content)

    def reading_speed(self, identity: str) -> float | None:
        """Prompt tokens a second this model was last measured to read, if it was."""
        with self._lock:
            found = self._read().get("reading_speeds", {}).get(identity)
        return float(found) if isinstance(found, int | float) and found > 0 else None

    def keep_reading_speed(self, identity: str, tokens_per_s: float) -> None:
        with self._lock:
            content = self._read()
            content.setdefault("reading_speeds", {})[identity] = round(tokens_per_s, 1)
            self._write(content)
