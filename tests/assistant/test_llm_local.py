"""llama.cpp on real GGUF files: the bundled SmolLM2 and a model the test writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mneme.assistant.llm import CancelToken, ChatMessage, ModelLoadError, SamplingParams
from mneme.assistant.llm.local import LlamaCppBackend

HELLO = [ChatMessage("user", "Say hello.")]


def test_streams_a_non_empty_reply(smollm: LlamaCppBackend) -> None:
    pieces = list(smollm.stream_chat(HELLO, SamplingParams(max_tokens=16, seed=1)))
    assert len(pieces) >= 2
    assert "".join(pieces).strip()


def test_cancel_stops_within_one_token(smollm: LlamaCppBackend) -> None:
    cancel = CancelToken()
    story = [ChatMessage("user", "Tell me a very long story about a lighthouse keeper.")]
    received = 0
    for _ in smollm.stream_chat(story, SamplingParams(max_tokens=400, seed=1), cancel=cancel):
        received += 1
        if received == 3:
            cancel.cancel()
    assert received == 3


def test_cancel_before_start_generates_nothing(smollm: LlamaCppBackend) -> None:
    cancel = CancelToken()
    cancel.cancel()
    assert list(smollm.stream_chat(HELLO, SamplingParams(max_tokens=8), cancel=cancel)) == []


def test_token_counts_come_from_the_models_tokenizer(smollm: LlamaCppBackend) -> None:
    assert smollm.count_tokens("") == 0
    short = smollm.count_messages([ChatMessage("user", "hi")])
    longer = smollm.count_messages([ChatMessage("user", "hi " * 50)])
    assert longer - short >= 49
    # the template's role markers are counted too
    assert short > smollm.count_tokens("hi")


def test_json_schema_output_parses(smollm: LlamaCppBackend) -> None:
    import json

    schema = {
        "type": "object",
        "properties": {"facts": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
        "required": ["facts"],
    }
    text = "".join(
        smollm.stream_chat(
            [ChatMessage("user", "List facts about: my sister lives in Lisbon.")],
            SamplingParams(max_tokens=120, seed=3, temperature=0.2),
            json_schema=schema,
        )
    )
    data = json.loads(text, strict=False)
    assert isinstance(data["facts"], list)


def test_any_gguf_loads_and_generates(tiny_gguf: Path) -> None:
    backend = LlamaCppBackend(tiny_gguf, context_length=512, threads=1, seed=1)
    try:
        backend.load()
        assert backend.name == "tiny-test-llama"
        assert backend.context_length == 512
        pieces = list(backend.stream_chat(HELLO, SamplingParams(max_tokens=8, seed=1)))
        assert backend.count_messages(HELLO) > 3
        assert isinstance("".join(pieces), str)
    finally:
        backend.close()


def test_a_gguf_without_chat_template_falls_back_with_a_warning(tmp_path: Path) -> None:
    from tests.gguf_factory import write_tiny_llama

    path = write_tiny_llama(tmp_path / "plain.gguf", chat_template=None)
    backend = LlamaCppBackend(path, context_length=256, threads=1)
    backend.load()
    try:
        assert any("no chat template" in w for w in backend.warnings)
        assert backend.count_messages(HELLO) > 0
    finally:
        backend.close()


@pytest.mark.parametrize("content", [b"", b"not a model", b"GGUF\x03\x00\x00\x00"])
def test_damaged_files_fail_with_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=r"broken\.gguf"):
        LlamaCppBackend(path)


def test_missing_file_fails_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        LlamaCppBackend(tmp_path / "missing.gguf")
