from __future__ import annotations

from pathlib import Path

import pytest

from assistant.llm import ModelLoadError
from assistant.llm import local as local_mod
from assistant.llm.local import LlamaCppBackend
from assistant.models import model_files
from tests.gguf_factory import write_tiny_llama


def test_the_bundled_model_and_the_models_folder_are_listed(
    tmp_path: Path, tiny_gguf: Path
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny.gguf").write_bytes(tiny_gguf.read_bytes())
    (folder / "broken.gguf").write_bytes(b"GGUF" + b"\0" * 40)
    (folder / "notes.txt").write_text("not a model")
    files = model_files(folder)
    assert files[0].bundled and files[0].info is not None
    assert files[0].info.quantization == "Q4_1" and "135M" in files[0].label
    by_name = {f.path.name: f for f in files[1:]}
    assert set(by_name) == {"tiny.gguf", "broken.gguf"}
    assert by_name["tiny.gguf"].info.context_length == 512  # type: ignore[union-attr]
    assert by_name["broken.gguf"].info is None and by_name["broken.gguf"].error


def test_a_model_too_large_for_free_memory_is_refused_with_an_estimate(
    smollm_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_mod, "available_memory", lambda: 50 * 2**20)
    backend = LlamaCppBackend(smollm_path, context_length=2048, threads=1)
    with pytest.raises(ModelLoadError, match=r"needs about 0\.\d GB .* 0\.0 GB is free"):
        backend.load()
    assert not backend.loaded


def test_a_gguf_without_template_gets_its_familys(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "chatml.gguf", chat_template=None)  # has <|im_start|>
    backend = LlamaCppBackend(path, context_length=256, threads=1)
    backend.load()
    try:
        assert backend.template is not None and backend.template.family == "chatml"
        assert any("chatml format" in w for w in backend.warnings)
    finally:
        backend.close()


def test_continuation_carries_on_from_the_last_word(smollm: LlamaCppBackend) -> None:
    from assistant.llm import ChatMessage, SamplingParams

    messages = [
        ChatMessage("user", "Count from one to ten in words."),
        ChatMessage("assistant", "one, two, three,"),
    ]
    assert smollm.template is not None
    prompt = smollm.template.render_continuation(
        [{"role": m.role, "content": m.content} for m in messages]
    )
    assert prompt.endswith("one, two, three,")
    more = "".join(
        smollm.stream_chat(
            messages, SamplingParams(max_tokens=8, temperature=0), continue_last=True
        )
    )
    assert more.strip()
