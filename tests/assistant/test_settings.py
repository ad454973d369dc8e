from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mneme.assistant import settings as s


def test_defaults_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.json"
    s.save(s.Settings(), path)
    assert s.load(path).settings == s.Settings()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_invalid_value_is_refused_naming_the_field_and_nothing_changes() -> None:
    original = s.Settings()
    with pytest.raises(s.SettingsError) as err:
        s.updated(original, {"generation.temperature": 0.2, "model.context_length": 10})
    assert err.value.field == "model.context_length"
    assert "greater than or equal" in err.value.reason
    assert original.generation.temperature == 0.7  # nothing half-applied
    ok = s.updated(original, {"generation.temperature": 0.2})
    assert ok.generation.temperature == 0.2 and original.generation.temperature == 0.7
    with pytest.raises(s.SettingsError, match=r"server\.url"):
        s.updated(original, {"server.url": "ftp://example"})


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(s.SettingsError, match="no such setting"):
        s.updated(s.Settings(), {"model.nonsense": 1})


@pytest.mark.parametrize(
    "content",
    ["{not json", "[1, 2]", json.dumps({"model": {"threads": -3}}), "\udcff", ""],
)
def test_a_damaged_file_is_moved_aside_and_defaults_used(tmp_path: Path, content: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(content, encoding="utf-8", errors="surrogateescape")
    loaded = s.load(path)
    assert loaded.settings == s.Settings()
    assert loaded.warnings and "defaults are in use" in loaded.warnings[0]
    assert not path.exists()
    backups = list(tmp_path.glob("settings.json.broken-*"))
    assert len(backups) == 1


def test_a_file_from_a_newer_version_is_not_overwritten_silently(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 99}))
    loaded = s.load(path)
    assert "newer Mneme" in loaded.warnings[0]


def test_a_version_1_file_is_migrated(tmp_path: Path) -> None:
    """The walking skeleton's format: sampling settings lived under ``model``."""
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "model": {
                    "path": "/models/x.gguf",
                    "threads": 3,
                    "temperature": 0.3,
                    "max_tokens": 99,
                    "seed": 5,
                },
                "memory": {"top_k": 4},
                "chat": {"system_prompt": "Be brief."},
            }
        )
    )
    loaded = s.load(path)
    assert loaded.warnings == []
    got = loaded.settings
    assert got.version == s.SETTINGS_VERSION
    assert (got.model.path, got.model.threads, got.model.seed) == ("/models/x.gguf", 3, 5)
    assert (got.generation.temperature, got.generation.max_tokens) == (0.3, 99)
    assert got.memory.top_k == 4 and got.chat.system_prompt == "Be brief."
    s.save(got, path)
    assert json.loads(path.read_text())["version"] == s.SETTINGS_VERSION


def test_the_old_default_number_of_memories_gives_way_to_the_budget(tmp_path: Path) -> None:
    """Version 2 saved every value; its default of 6 memories a reply becomes the new
    ceiling, a number the person chose stays."""
    for saved, now in ((6, s.Settings().memory.top_k), (9, 9)):
        path = tmp_path / f"settings-{saved}.json"
        path.write_text(json.dumps({"version": 2, "memory": {"top_k": saved}}))
        assert s.load(path).settings.memory.top_k == now
