"""A short list of chat models worth downloading when the bundled one is too small.

The bundled SmolLM2-135M runs anywhere but answers simply. These are the next
steps up for a computer with a few GB of RAM to spare: instruction-tuned,
known to work with llama.cpp, in a Q4_K_M quantization (the usual balance of
size and quality), and downloadable from Hugging Face without an account.

This is data only: nothing here touches the network. Sizes are approximate
(the model manager shows the real size once the server reports it); RAM is
what the model needs loaded with a 4,096-token context, rounded up.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

HUGGING_FACE = "https://huggingface.co"


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    name: str
    repo: str
    """Hugging Face repository, ``owner/name``."""
    file: str
    size_bytes: int
    """Approximate download size."""
    ram_bytes: int
    """Approximate memory needed to chat with it."""
    license: str
    revision: str = "main"
    sha256: str | None = None
    """SHA-256 of the file, only where known for certain (see CATALOGUE)."""
    note: str = ""

    @property
    def url(self) -> str:
        """The direct file address (``resolve``, not the ``blob`` page)."""
        return f"{HUGGING_FACE}/{self.repo}/resolve/{quote(self.revision)}/{quote(self.file)}"

    @property
    def page(self) -> str:
        """The repository's page, where its model card and licence are."""
        return f"{HUGGING_FACE}/{self.repo}"


_GB = 1_000_000_000
_MB = 1_000_000

#: Every ``sha256`` is None on purpose: this list was written offline, where the
#: files' checksums could not be checked, and a wrong checksum would make a good
#: download fail. A checksum should only be added after verifying it against the
#: file (Hugging Face shows it on the file's page as the LFS "SHA256").
CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        name="Llama 3.2 1B Instruct",
        repo="bartowski/Llama-3.2-1B-Instruct-GGUF",
        file="Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        size_bytes=810 * _MB,
        ram_bytes=2 * _GB,
        license="Llama 3.2 Community License",
        note="Meta's smallest chat model; quick on any recent laptop.",
    ),
    CatalogueEntry(
        name="Qwen2.5 1.5B Instruct",
        repo="Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        file="qwen2.5-1.5b-instruct-q4_k_m.gguf",
        size_bytes=1_120 * _MB,
        ram_bytes=2 * _GB,
        license="Apache 2.0",
        note="Good at following instructions for its size; many languages.",
    ),
    CatalogueEntry(
        name="SmolLM2 1.7B Instruct",
        repo="HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF",
        file="smollm2-1.7b-instruct-q4_k_m.gguf",
        size_bytes=1_060 * _MB,
        ram_bytes=2 * _GB,
        license="Apache 2.0",
        note="The bundled model's bigger sibling; English.",
    ),
    CatalogueEntry(
        name="Llama 3.2 3B Instruct",
        repo="bartowski/Llama-3.2-3B-Instruct-GGUF",
        file="Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        size_bytes=2_020 * _MB,
        ram_bytes=4 * _GB,
        license="Llama 3.2 Community License",
        note="Noticeably better answers; wants 8 GB of RAM in the computer.",
    ),
    CatalogueEntry(
        name="Qwen2.5 3B Instruct",
        repo="Qwen/Qwen2.5-3B-Instruct-GGUF",
        file="qwen2.5-3b-instruct-q4_k_m.gguf",
        size_bytes=2_100 * _MB,
        ram_bytes=4 * _GB,
        license="Qwen Research License (non-commercial)",
        note="Strong for its size; its licence does not allow commercial use.",
    ),
)


def find(file: str) -> CatalogueEntry | None:
    """The entry for a downloaded file name, if it came from the catalogue."""
    return next((e for e in CATALOGUE if e.file == file), None)
