from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mneme.assistant.llm.gguf_header import GGUFError, read_gguf


def test_reads_the_bundled_model_header(smollm_path: Path) -> None:
    info = read_gguf(smollm_path)
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.quantization == "Q4_1"
    assert 100e6 < info.parameters < 200e6
    assert info.chat_template and "<|im_start|>" in info.chat_template
    assert info.ram_estimate(4096) > info.size_bytes
    assert info.display_name == "SmolLM2 135M Instruct"  # not its training run's name


def test_reads_a_generated_model(tiny_gguf: Path) -> None:
    info = read_gguf(tiny_gguf)
    assert info.name == "tiny-test-llama" and info.context_length == 512
    assert info.quantization == "F32"
    assert info.display_name == "tiny-test-llama"  # no base name and size: its name


def _damaged(tmp_path: Path, data: bytes, name: str = "bad.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_refuses_files_that_are_not_models(tmp_path: Path, tiny_gguf: Path) -> None:
    good = tiny_gguf.read_bytes()
    cases = {
        "missing": tmp_path / "nope.gguf",
        "folder": tmp_path,
        "empty": _damaged(tmp_path, b"", "empty.gguf"),
        "text": _damaged(tmp_path, b"hello, I am not a model at all" * 10, "text.gguf"),
        "wrong magic": _damaged(tmp_path, b"GGML" + good[4:], "magic.gguf"),
        "truncated header": _damaged(tmp_path, good[:200], "trunc1.gguf"),
        "truncated data": _damaged(tmp_path, good[: len(good) // 2], "trunc2.gguf"),
        "absurd tensor count": _damaged(
            tmp_path, good[:8] + struct.pack("<Q", 2**40) + good[16:], "count.gguf"
        ),
        "absurd kv count": _damaged(
            tmp_path, good[:16] + struct.pack("<Q", 2**50) + good[24:], "kv.gguf"
        ),
        "version 1": _damaged(tmp_path, good[:4] + struct.pack("<I", 1) + good[8:], "v1.gguf"),
    }
    for label, path in cases.items():
        with pytest.raises(GGUFError) as err:
            read_gguf(path)
        assert str(err.value), label
