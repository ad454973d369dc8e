"""Read a GGUF file's header without loading the model, and refuse bad files.

llama.cpp trusts the file it is given; a truncated or damaged GGUF can take
the whole process down. Everything a model file claims (counts, lengths,
tensor extents) is checked here against the file's real size before llama.cpp
sees it, and the facts the model manager shows (architecture, context length,
quantization, parameters) come from the same pass. Large arrays such as the
vocabulary are skipped, not decoded, so this takes milliseconds.
"""

from __future__ import annotations

import functools
import math
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAGIC = b"GGUF"
_MAX_STRING = 16 * 1024 * 1024  # a chat template is kilobytes; 16 MiB is absurd
_MAX_ARRAY = 16 * 1024 * 1024  # vocabularies and merges run to hundreds of thousands
_MAX_TENSORS = 1_000_000
_MAX_KV = 100_000
_MAX_DIMS = 4

# value types of the GGUF spec: code -> struct format (None: variable size)
_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


@functools.cache
def _tensor_types() -> dict[int, tuple[str, int, int]]:
    """ggml type code -> (name, elements per block, bytes per block), from the gguf package."""
    from gguf.constants import GGML_QUANT_SIZES

    return {int(t): (t.name, block, nbytes) for t, (block, nbytes) in GGML_QUANT_SIZES.items()}


class GGUFError(ValueError):
    """The file is not a GGUF model llama.cpp could load."""


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type_code: int
    offset: int
    nbytes: int

    @property
    def type_name(self) -> str:
        known = _tensor_types().get(self.type_code)
        return known[0] if known else f"type {self.type_code}"

    @property
    def elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True, slots=True)
class GGUFInfo:
    path: Path
    size_bytes: int
    version: int
    metadata: dict[str, Any] = field(repr=False)
    """Scalar and string values; arrays are summarised as their length."""
    tensors: tuple[TensorInfo, ...] = field(repr=False)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def display_name(self) -> str:
        """A name a person reads: "SmolLM2 135M Instruct", not the training-run name
        some files carry ("Smollm2 135M 8k Lc100K Mix1 Ep2"). Built from the model's
        base name and size, spelled as the file name spells it, when the file says
        them; otherwise its name."""
        base = self.metadata.get("general.basename")
        size = self.metadata.get("general.size_label")
        if not isinstance(base, str) or not isinstance(size, str) or not base or not size:
            return self.name
        stem = self.path.stem
        at = stem.lower().find(base.lower())
        spelled = stem[at : at + len(base)] if at >= 0 else base
        finetune = str(self.metadata.get("general.finetune") or "")
        kind = " Instruct" if "instruct" in f"{finetune} {stem}".lower() else ""
        return f"{spelled} {size}{kind}"

    def _arch_value(self, key: str) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}")

    @property
    def context_length(self) -> int | None:
        value = self._arch_value("context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def block_count(self) -> int | None:
        value = self._arch_value("block_count")
        return int(value) if isinstance(value, int) else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def parameters(self) -> int:
        return sum(t.elements for t in self.tensors)

    @property
    def quantization(self) -> str:
        """The type most of the weights are stored in (what people call the quant)."""
        by_bytes: dict[str, int] = {}
        for t in self.tensors:
            if len(t.shape) >= 2:
                by_bytes[t.type_name] = by_bytes.get(t.type_name, 0) + t.nbytes
        if not by_bytes:
            return "unknown"
        return max(by_bytes, key=lambda k: by_bytes[k])

    def kv_cache_bytes(self, context: int) -> int:
        """Memory for the key/value cache at ``context`` tokens in f16 (an estimate)."""
        layers = self.block_count or 0
        embd = self._arch_value("embedding_length")
        heads = self._arch_value("attention.head_count")
        kv_heads = self._arch_value("attention.head_count_kv") or heads
        if not (isinstance(embd, int) and isinstance(heads, int) and heads > 0):
            return 0
        kv_dim = embd * int(kv_heads) // heads
        return 2 * layers * context * kv_dim * 2

    def ram_estimate(self, context: int) -> int:
        return self.size_bytes + self.kv_cache_bytes(context) + 64 * 1024 * 1024


class _Cursor:
    def __init__(self, buffer: Any, size: int) -> None:
        self.buf = buffer
        self.size = size
        self.pos = 0

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"the file ends inside {what} (truncated or damaged)")

    def unpack(self, fmt: str, what: str) -> Any:
        n = struct.calcsize(fmt)
        self.need(n, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return value

    def string(self, what: str, *, keep: bool = True) -> str:
        length = self.unpack("<Q", what)
        if length > _MAX_STRING:
            raise GGUFError(f"{what} claims an absurd length ({length:,} bytes)")
        self.need(length, what)
        start = self.pos
        self.pos += length
        if not keep:
            return ""
        try:
            return bytes(self.buf[start : self.pos]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GGUFError(f"{what} is not valid UTF-8") from exc

    def value(self, type_code: int, what: str, *, keep: bool = True) -> Any:
        if type_code in _SCALARS:
            return self.unpack(_SCALARS[type_code], what)
        if type_code == _STRING:
            return self.string(what, keep=keep)
        if type_code == _ARRAY:
            item_type = self.unpack("<I", what)
            count = self.unpack("<Q", what)
            if count > _MAX_ARRAY:
                raise GGUFError(f"{what} claims an absurd number of items ({count:,})")
            if item_type in _SCALARS:
                width = struct.calcsize(_SCALARS[item_type])
                self.need(count * width, what)
                self.pos += count * width
            elif item_type == _STRING:
                for _ in range(count):
                    self.string(what, keep=False)
            else:
                raise GGUFError(f"{what} has an array of unsupported type {item_type}")
            return count
        raise GGUFError(f"{what} has an unknown value type {type_code}")


def read_gguf(path: str | Path) -> GGUFInfo:
    """Parse and check the header of a GGUF file; raise GGUFError if it is unusable."""
    path = Path(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, mmap needs the fd
    except FileNotFoundError:
        raise GGUFError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise GGUFError(f"{path} is a folder, not a model file") from None
    except OSError as exc:
        raise GGUFError(f"model file {path} cannot be read: {exc.strerror or exc}") from None
    with handle:
        size = path.stat().st_size
        if size < 24:
            raise GGUFError(f"{path.name} is too small to be a GGUF model ({size} bytes)")
        if handle.read(4) != MAGIC:
            raise GGUFError(f"{path.name} is not a GGUF model file (wrong magic number)")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _parse(path, mm, size)


def _parse(path: Path, mm: Any, size: int) -> GGUFInfo:
    cur = _Cursor(mm, size)
    cur.pos = 4
    version = cur.unpack("<I", "the version")
    if version not in (2, 3):
        raise GGUFError(f"{path.name} is GGUF version {version}; versions 2 and 3 are supported")
    tensor_count = cur.unpack("<Q", "the tensor count")
    kv_count = cur.unpack("<Q", "the metadata count")
    if tensor_count > _MAX_TENSORS or tensor_count * 24 > size:
        raise GGUFError(f"{path.name} claims an absurd number of tensors ({tensor_count:,})")
    if kv_count > _MAX_KV or kv_count * 12 > size:
        raise GGUFError(f"{path.name} claims an absurd number of metadata keys ({kv_count:,})")
    metadata: dict[str, Any] = {}
    for i in range(kv_count):
        key = cur.string(f"metadata key #{i}")
        type_code = cur.unpack("<I", f"metadata {key!r}")
        keep = not key.startswith("tokenizer.ggml.")
        metadata[key] = cur.value(type_code, f"metadata {key!r}", keep=keep)
    tensors: list[TensorInfo] = []
    for i in range(tensor_count):
        name = cur.string(f"tensor #{i}'s name")
        n_dims = cur.unpack("<I", f"tensor {name!r}")
        if not 1 <= n_dims <= _MAX_DIMS:
            raise GGUFError(f"tensor {name!r} has {n_dims} dimensions")
        shape = tuple(cur.unpack("<Q", f"tensor {name!r}") for _ in range(n_dims))
        type_code = cur.unpack("<I", f"tensor {name!r}")
        offset = cur.unpack("<Q", f"tensor {name!r}")
        if type_code not in _tensor_types():
            raise GGUFError(f"tensor {name!r} has an unknown type {type_code}")
        _, block, block_bytes = _tensor_types()[type_code]
        elements = 1
        for d in shape:
            if d <= 0 or d > 1 << 40:
                raise GGUFError(f"tensor {name!r} has an impossible shape {shape}")
            elements *= d
        if elements % block:
            raise GGUFError(f"tensor {name!r} does not fill whole {block}-element blocks")
        nbytes = elements // block * block_bytes
        tensors.append(TensorInfo(name, shape, type_code, offset, nbytes))
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"{path.name} has an invalid alignment {alignment!r}")
    data_start = -(-cur.pos // alignment) * alignment
    for t in tensors:
        if t.offset % alignment or data_start + t.offset + t.nbytes > size:
            raise GGUFError(
                f"{path.name} is truncated or damaged: tensor {t.name!r} lies beyond the file"
            )
    if not tensors:
        raise GGUFError(f"{path.name} holds no tensors; it is not a model")
    _check_parameters(path, metadata)
    return GGUFInfo(path, size, version, metadata, tuple(tensors))


_MAX_LAYERS = 512  # llama.cpp's LLAMA_MAX_LAYERS


def _check_parameters(path: Path, metadata: dict[str, Any]) -> None:
    """Refuse values that llama.cpp does not report but aborts the whole process on
    (a failed GGML_ASSERT), found by ``tests/corpus.py``."""
    arch = metadata.get("general.architecture")
    layers = metadata.get(f"{arch}.block_count")
    if isinstance(layers, int) and not 1 <= layers <= _MAX_LAYERS:
        raise GGUFError(
            f"{path.name} claims {layers:,} layers; llama.cpp can load 1 to {_MAX_LAYERS}"
        )
    context = metadata.get(f"{arch}.context_length")
    if isinstance(context, int) and not 1 <= context < 2**31:
        raise GGUFError(f"{path.name} claims an impossible context length ({context:,} tokens)")
    for key, value in metadata.items():
        epsilon = key.endswith(("layer_norm_rms_epsilon", "layer_norm_epsilon"))
        if epsilon and isinstance(value, float) and not (math.isfinite(value) and value >= 0):
            raise GGUFError(f"{path.name} has an impossible {key} ({value})")
