"""Settings take effect: what changed is reloaded, nothing else."""

from __future__ import annotations

from pathlib import Path

from mneme.assistant import settings as settings_mod
from mneme.assistant.chat import Finished
from mneme.assistant.core import Assistant
from mneme.assistant.llm.local import LlamaCppBackend
from mneme.assistant.llm.server import ServerBackend
from mneme.assistant.secrets import MODEL_SERVER_KEY
from tests.conftest import KEY, MemoryKeyring


def test_applying_settings_reloads_only_what_changed(home: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    assistant = Assistant.from_environment(embedder=embedder)
    try:
        first = assistant.open_model()
        assert isinstance(first.backend, LlamaCppBackend)
        new = assistant.settings.model_copy(deep=True)
        new.generation.temperature = 0.1
        assert assistant.apply_settings(new) == []
        assert assistant.model is first and assistant.chat().settings.generation.temperature == 0.1
        newer = new.model_copy(deep=True)
        newer.model.context_length = 1024
        assert assistant.apply_settings(newer) == ["model"]
        assert assistant.model is None
        assert assistant.open_model().context_length == 1024
        saved = settings_mod.load(assistant.paths.settings_file).settings
        assert saved.model.context_length == 1024 and saved.generation.temperature == 0.1
    finally:
        assistant.close()


def test_the_server_backend_is_chosen_from_settings_with_its_key_from_the_keyring(
    home: Path, model_server: str, memory_keyring: MemoryKeyring
) -> None:
    assistant = Assistant.from_environment()
    try:
        assistant.secrets.set(MODEL_SERVER_KEY, KEY)
        new = assistant.settings.model_copy(deep=True)
        new.server.enabled = True
        new.server.url = model_server
        assert assistant.apply_settings(new) == ["model"]
        model = assistant.open_model()
        assert isinstance(model.backend, ServerBackend)
        events = list(assistant.chat().send(assistant.chat().start_temporary(), "Hello!"))
        assert isinstance(events[-1], Finished) and events[-1].reply.text
        settings_text = assistant.paths.settings_file.read_text()
        assert KEY not in settings_text  # the key lives in the keyring only
    finally:
        assistant.close()


def test_how_fast_a_model_reads_is_kept_for_that_model_file(core: Assistant) -> None:
    """Measured while it was open, known again when it is opened after a restart, and not
    taken for another model's."""
    model = core.open_model()
    assert model.reading_speed is None
    core.chat().read_ahead("c", "Tell me everything about the lighthouse keeper. " * 8)
    measured = model.reading_speed
    assert measured is not None
    core.close()
    assert core.open_model().reading_speed == round(measured, 1)
    other = core.model_checks.identity(None, "http://127.0.0.1:9 another")
    assert core.model_checks.reading_speed(other) is None
