from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mneme.assistant import models as models_mod
from mneme.assistant.core import Assistant
from mneme.assistant.errors import InvalidRequestError
from mneme.assistant.llm import ModelLoadError
from mneme.assistant.llm import local as local_mod
from mneme.assistant.llm.local import LlamaCppBackend
from mneme.assistant.models import (
    BundledModelMissing,
    bundled_model_path,
    model_files,
    settings_for_model,
)
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
    from mneme.assistant.llm import ChatMessage, SamplingParams

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


def test_the_model_in_use_is_found_by_file_also_outside_the_models_folder(
    core: Assistant, tiny_gguf: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(tiny_gguf, elsewhere / "mine.gguf")
    listed = core.models.available()
    assert listed[0].file.bundled and listed[0].in_use and not listed[0].removable
    # the same file by another spelling of its path still counts as the one in use
    core.models.use(elsewhere / ".." / "elsewhere" / "mine.gguf")
    by_name = {m.path.name: m for m in core.models.available()}
    assert by_name["mine.gguf"].in_use and not by_name[bundled_model_path().name].in_use
    assert by_name["mine.gguf"].kept_because is not None  # in use, and not in the folder
    with pytest.raises(InvalidRequestError, match="already in use"):
        core.models.use(elsewhere / "mine.gguf")


def test_a_missing_bundled_model_leaves_the_others_listed(
    core: Assistant, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> Path:
        raise BundledModelMissing("the bundled chat model is not installed")

    monkeypatch.setattr(models_mod, "bundled_model_path", missing)
    core.paths.models.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_gguf, core.paths.models / "tiny.gguf")
    assert [m.path.name for m in core.models.available()] == ["tiny.gguf"]


def test_only_a_downloaded_file_not_in_use_can_be_removed(
    core: Assistant, tiny_gguf: Path, tmp_path: Path
) -> None:
    core.paths.models.mkdir(parents=True, exist_ok=True)
    downloaded = core.paths.models / "tiny.gguf"
    shutil.copy(tiny_gguf, downloaded)
    core.models.use(downloaded)
    with pytest.raises(InvalidRequestError, match="only files in the models folder"):
        core.models.remove(bundled_model_path())
    with pytest.raises(InvalidRequestError, match="model in use"):
        core.models.remove(downloaded)
    core.models.use(None)
    core.models.remove(downloaded)
    assert not downloaded.exists()


def test_a_file_that_is_not_a_model_cannot_be_chosen(core: Assistant, tmp_path: Path) -> None:
    notes = tmp_path / "notes.gguf"
    notes.write_text("not a model")
    with pytest.raises(InvalidRequestError, match="not a GGUF model file"):
        settings_for_model(core.settings, notes)
    assert core.settings.model.path is None
