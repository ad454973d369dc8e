"""Malformed inputs for every file Mneme reads give clear, typed errors and change nothing.

The corpus and the checks are in ``tests/corpus.py``; ``python -m benchmarks.malformed``
runs every input. Here GGUF and settings run whole (fast); the imports and the model
server run a seeded sample, since each import writes to a real store.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from tests import corpus

SEED = 8
SAMPLES: dict[str, int | None] = {
    "gguf": None,
    "settings": None,
    "export": 100,
    "chatgpt": 100,
    "server": 150,
}


def run(kind: str, folder: Path, limit: int | None, **kwargs: Any) -> corpus.Tally:
    with corpus.quiet_logs():
        return corpus.RUNNERS[kind](folder, seed=SEED, limit=limit, **kwargs)


@pytest.mark.parametrize("kind", corpus.KINDS)
def test_at_least_500_different_malformed_inputs_per_kind(kind: str, tmp_path: Path) -> None:
    cases = corpus.generate(kind, tmp_path, seed=SEED)
    assert len({c.data for c in cases}) >= 500


@pytest.mark.parametrize("kind", corpus.KINDS)
def test_malformed_inputs_give_clear_errors_and_change_nothing(kind: str, tmp_path: Path) -> None:
    limit = SAMPLES[kind]
    extra = {"llama_sample": None} if kind == "gguf" else {}
    tally = run(kind, tmp_path, limit, **extra)
    assert tally.tried >= (limit or 500)
    assert tally.unexpected == [], tally.unexpected[:10]
    assert tally.crashes == 0
    refused = tally.clear_error + tally.notes.get(corpus.SKIPPED, 0)
    assert refused >= tally.tried // 2, tally.as_dict()  # they really are broken
    if kind == "gguf":  # the header check is what stops them, llama.cpp sees the rest
        assert tally.notes["loaded by llama.cpp"] == tally.notes["passed the header check"] > 0


def test_a_sentence_is_told_from_a_repr_or_a_dump() -> None:
    assert corpus.is_sentence("the file ends inside an item (Expecting value)")
    assert corpus.is_sentence("'Porto': no text from you or the assistant")
    for bad in ("", "KeyError", "<object at 0x1>", "{'a': 1}", "x" * 3000, "Traceback (most r"):
        assert not corpus.is_sentence(bad), bad


# -- the checks can fail -------------------------------------------------------------------


def test_the_settings_check_sees_an_exception_escape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mneme.assistant.settings as assistant_settings

    def boom(raw: object) -> object:
        raise RecursionError("deep")

    monkeypatch.setattr(assistant_settings, "validate", boom)
    tally = run("settings", tmp_path, 8)
    assert tally.unexpected and all("RecursionError" in u for u in tally.unexpected)
    assert len(tally.unexpected) + tally.clear_error == 8  # the rest are not JSON


def test_the_import_check_sees_existing_data_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mneme.assistant.importers as assistant_importers
    from mneme.memory import ListQuery, MemoryStore

    def vandal(store: MemoryStore, path: Path, progress: object = None) -> object:
        victim = store.browse(ListQuery(limit=1)).items[0]
        store.edit(victim.id, "overwritten by a broken import")
        raise assistant_importers.ImportFormatError("the file is broken in some way")

    monkeypatch.setattr(assistant_importers, "import_file", vandal)
    tally = run("chatgpt", tmp_path, 3)
    assert len(tally.unexpected) == 3 and "existing data changed" in tally.unexpected[0]


def test_the_gguf_check_sees_an_untyped_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mneme.assistant.llm.local as assistant_llm_local

    def broken(path: Path) -> object:
        raise struct.error("unpack requires a buffer of 8 bytes")

    monkeypatch.setattr(assistant_llm_local, "read_gguf", broken)
    tally = run("gguf", tmp_path, 4, llama_sample=0)
    assert len(tally.unexpected) == 4 and "struct.error" in tally.unexpected[0]


def test_llama_cpp_aborts_on_a_model_without_layers_and_the_app_refuses_it(
    tmp_path: Path,
) -> None:
    """Found by the corpus: llama.cpp fails GGML_ASSERT(n_layer > 0) and aborts the whole
    process. The harness sees the crash (and carries on); the app's header check refuses
    the same file with a sentence, before llama.cpp is given it."""
    from mneme.assistant.llm.base import ModelLoadError
    from mneme.assistant.llm.local import LlamaCppBackend
    from tests.gguf_factory import write_tiny_llama

    good = write_tiny_llama(tmp_path / "good.gguf").read_bytes()
    fields, _ = corpus.gguf_fields(good)
    layers = next(f for f in fields if f.key == "llama.block_count" and f.what == "scalar")
    no_layers = corpus._put(good, layers, 0)
    raw = corpus.load_in_llama(tmp_path / "raw", [good, no_layers, good], raw=True)
    assert [r["outcome"] for r in raw] == ["ok", "crash", "ok"]
    (tmp_path / "bad.gguf").write_bytes(no_layers)
    with pytest.raises(ModelLoadError, match="claims 0 layers"):
        LlamaCppBackend(tmp_path / "bad.gguf")


def test_the_server_check_sees_an_untyped_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mneme.assistant.llm.server as assistant_llm_server

    def broken(data: str) -> str:
        raise KeyError("choices")

    monkeypatch.setattr(assistant_llm_server, "_delta", broken)
    tally = run("server", tmp_path, 40)
    assert any("KeyError" in u for u in tally.unexpected)
