"""Chat models behind one protocol: a local GGUF, or (later) a model server."""

from .base import (
    CancelToken,
    ChatMessage,
    GenerationError,
    LLMBackend,
    ModelError,
    ModelLoadError,
    SamplingParams,
)
from .gguf_header import GGUFError, GGUFInfo, read_gguf

__all__ = [
    "CancelToken",
    "ChatMessage",
    "GGUFError",
    "GGUFInfo",
    "GenerationError",
    "LLMBackend",
    "ModelError",
    "ModelLoadError",
    "SamplingParams",
    "read_gguf",
]
