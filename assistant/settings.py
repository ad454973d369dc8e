"""One typed settings schema: defaults, limits, descriptions and a version.

The file is JSON in the config folder. Loading never fails the app: a file
that cannot be read is moved aside and defaults are used, with a warning the
UI and CLI show. Saving validates the whole object first and writes
atomically, so a setting is never half-applied.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidRequestError

SETTINGS_VERSION = 3


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


EVERYDAY: dict[str, Any] = {"everyday": True}
"""Marks a setting a person is likely to change; the window shows these first and the
rest under "Advanced". (``json_schema_extra={"switch": "…"}`` names the tick box of an
optional number, said positively: ticked means the value is used.)"""


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True, frozen=False)


class ModelSettings(_Section):
    """The model file and how llama.cpp runs it (changing these reloads the model)."""

    path: str | None = Field(
        None, description="GGUF file of the chat model; empty means the bundled SmolLM2-135M."
    )
    context_length: int = Field(4096, ge=256, le=262_144, description="Context window in tokens.")
    threads: int = Field(
        default_factory=_default_threads, ge=1, le=512, description="CPU threads for generation."
    )
    gpu_layers: int = Field(0, ge=-1, le=10_000, description="Layers offloaded to a GPU (-1: all).")
    batch_size: int = Field(512, ge=1, le=16_384, description="Prompt batch size.")
    seed: int | None = Field(
        None,
        ge=0,
        le=2**31 - 1,
        title="Same reply every time",
        description="With a fixed seed the same message gets the same reply; without one, "
        "replies vary.",
        json_schema_extra={"switch": "Use the fixed seed"},
    )


class GenerationSettings(_Section):
    """How replies are sampled (applies to the next reply, no reload)."""

    temperature: float = Field(
        0.7,
        ge=0.0,
        le=2.0,
        title="Creativity",
        description="How freely replies are worded: 0 is the most predictable, higher is more "
        "varied (and more often wrong).",
        json_schema_extra=EVERYDAY,
    )
    top_p: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        title="Word choice: likeliest share (top p)",
        description="Sample only from the likeliest words that make up this share.",
    )
    top_k: int = Field(
        40,
        ge=0,
        le=1000,
        title="Word choice: likeliest few (top k)",
        description="Sample only from this many likeliest words.",
    )
    min_p: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        title="Word choice: floor (min p)",
        description="Drop words this much less likely than the likeliest.",
    )
    repeat_penalty: float = Field(
        1.1,
        ge=0.5,
        le=2.0,
        title="Avoid repeating",
        description="Discourage repeating recent words (1: no penalty).",
    )
    max_tokens: int = Field(
        512, ge=1, le=32_768, title="Longest reply (tokens)", description="Longest reply in tokens."
    )


class ServerSettings(_Section):
    """An OpenAI-compatible model server (llama.cpp's llama-server, llama_cpp.server, …)."""

    enabled: bool = Field(False, description="Use the server instead of a local GGUF file.")
    url: str = Field(
        "http://127.0.0.1:8080/v1",
        pattern=r"^https?://[^\s/]+(:\d+)?(/[^\s]*)?$",
        description="Base URL of the API (ending in /v1). The API key is kept in the keyring.",
    )
    model: str = Field("", max_length=500, description="Model name to request; empty: default.")
    context_length: int = Field(
        4096, ge=256, le=1_048_576, description="The server model's context window, for budgeting."
    )
    timeout_s: float = Field(60.0, gt=0, le=3600, description="Seconds to wait for a response.")
    retries: int = Field(2, ge=0, le=10, description="Retries when the server cannot be reached.")


class MemorySettings(_Section):
    enabled: bool = Field(
        True,
        title="Use your memory",
        description="Recall what you said before to answer. Off: replies use only the "
        "conversation at hand.",
        json_schema_extra=EVERYDAY,
    )
    top_k: int = Field(
        50,
        ge=0,
        le=50,
        title="Memories per reply (at most)",
        description="Most memories retrieved for a reply; below this, the room for memories "
        "decides how many.",
    )
    budget_fraction: float = Field(
        0.25,
        ge=0.0,
        le=0.8,
        title="Room for memories",
        description="Share of the model's context window that memories may fill.",
    )
    max_delay_s: float = Field(
        1.0,
        ge=0.0,
        le=600.0,
        title="Longest wait for memories (seconds)",
        description="Memories the model could not read while you typed may hold up a reply "
        "by at most this long (from how fast this model reads); the rest wait for the next "
        "message.",
    )
    server_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(:\d+)?/?$",
        description="A Chroma server to keep the memory on (http(s)://host:port); "
        "empty keeps it in the data folder. Its token is kept in the keyring.",
    )
    auto_consolidate: bool = Field(
        True,
        title="Tidy memory in the background",
        description="While you are not chatting, Mneme writes summaries and facts from quiet "
        "conversations (you can see and take back each run).",
        json_schema_extra=EVERYDAY,
    )
    model_writes: Literal["automatic", "facts_and_summaries", "summaries", "nothing"] = Field(
        "automatic",
        title="What the model writes",
        description="Facts in your own words are always kept. Automatic: the model also "
        "writes facts and summaries as far as a short check of it shows it does them well.",
        json_schema_extra={
            "labels": {
                "automatic": "Automatic (as far as the model is good at it)",
                "facts_and_summaries": "Facts and summaries",
                "summaries": "Summaries only",
                "nothing": "Nothing (only your own words)",
            }
        },
    )
    idle_minutes: float = Field(
        10.0,
        ge=0.5,
        le=1440,
        title="Wait before tidying (minutes)",
        description="Quiet time before a conversation is tidied into summaries and facts.",
    )
    episode_retention_days: int | None = Field(
        None,
        ge=1,
        le=36_500,
        title="Forget old chat turns",
        description="Unticked, every turn is kept for ever. Ticked, turns older than this many "
        "days are forgotten, from their conversations too.",
        json_schema_extra={**EVERYDAY, "switch": "Forget turns older than (days)"},
    )


class ChatSettings(_Section):
    system_prompt: str = Field(
        "You are Mneme, a helpful personal assistant running privately on the user's "
        "computer. You remember earlier conversations through the notes you are given.",
        max_length=20_000,
        title="How Mneme should behave",
        description="Who Mneme is and what it should always keep in mind.",
        json_schema_extra=EVERYDAY,
    )
    history_turns: int = Field(
        20,
        ge=0,
        le=500,
        title="Turns of the conversation given to the model",
        description="Recent turns kept in the prompt.",
    )


class UISettings(_Section):
    theme: Literal["system", "light", "dark"] = Field(
        "system", title="Colours", description="Colour theme.", json_schema_extra=EVERYDAY
    )
    font_size: int = Field(
        11,
        ge=6,
        le=40,
        title="Text size",
        description="Text size in points.",
        json_schema_extra=EVERYDAY,
    )
    first_run_done: bool = Field(False, description="The welcome screen was shown.")


class SecretSettings(_Section):
    allow_file_fallback: bool = Field(
        False,
        description="Where no system keyring exists, keep secrets in a file readable only "
        "by you (plain text on disk). Off: secrets cannot be saved without a keyring.",
    )


class Settings(_Section):
    version: int = SETTINGS_VERSION
    model: ModelSettings = Field(default_factory=ModelSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    ui: UISettings = Field(default_factory=UISettings)
    secrets: SecretSettings = Field(default_factory=SecretSettings)


class SettingsError(InvalidRequestError):
    """A settings value was refused; ``field`` names it, the message says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _errors_to_settings_error(exc: ValidationError) -> SettingsError:
    first = exc.errors()[0]
    location = ".".join(str(p) for p in first["loc"]) or "settings"
    return SettingsError(location, first["msg"])


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SettingsError(name, "must be a group of settings (a JSON object)")
    return dict(value)


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 2 moved sampling settings out of ``model`` into ``generation``."""
    model = _section(raw, "model")
    moved = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens")
    generation = {k: model.pop(k) for k in moved if k in model}
    return {**raw, "model": model, "generation": {**generation, **_section(raw, "generation")}}


def _v2_to_v3(raw: dict[str, Any]) -> dict[str, Any]:
    """``memory.top_k`` became a ceiling, the room for memories deciding below it: the old
    default of 6 gives way to the new one (any other choice is kept)."""
    memory = _section(raw, "memory")
    if memory.get("top_k") == 6:
        memory.pop("top_k")
    return {**raw, "memory": memory}


#: Each migration takes the raw dict of version N and returns version N+1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3}


@dataclass(slots=True)
class LoadedSettings:
    settings: Settings
    warnings: list[str] = field(default_factory=list)


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SettingsError("settings", "the file does not hold a JSON object")
    version = raw.get("version", 1)
    if isinstance(version, float) and version.is_integer():
        version = int(version)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SettingsError("version", "must be a whole number, 1 or more")
    if version > SETTINGS_VERSION:
        raise SettingsError(
            "version",
            f"written by a newer Mneme (format {version}, this one reads up to {SETTINGS_VERSION})",
        )
    while version < SETTINGS_VERSION:
        raw = MIGRATIONS[version](raw)
        version += 1
        raw["version"] = version
    return raw


def validate(raw: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(migrate(raw))
    except ValidationError as exc:
        raise _errors_to_settings_error(exc) from None


def updated(settings: Settings, changes: dict[str, Any]) -> Settings:
    """A copy with dotted-path changes applied, or SettingsError naming the field."""
    raw = settings.model_dump()
    for dotted, value in changes.items():
        target = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(target.get(part), dict):
                raise SettingsError(dotted, "no such setting")
            target = target[part]
        if leaf not in target:
            raise SettingsError(dotted, "no such setting")
        target[leaf] = value
    return validate(raw)


def load(path: Path) -> LoadedSettings:
    if not path.exists():
        return LoadedSettings(Settings())
    try:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except RecursionError:  # nested deeper than any settings file could be
            raise SettingsError("settings", "the file is nested too deeply") from None
        except ValueError as exc:  # not UTF-8, not JSON, a number too long to read
            raise SettingsError("settings", f"the file is not valid JSON ({exc})") from None
        return LoadedSettings(validate(raw))
    except (OSError, SettingsError) as exc:
        backup = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            path.replace(backup)
            where = f"it was moved to {backup}"
        except OSError:
            where = "it was left in place"
        return LoadedSettings(
            Settings(),
            [f"the settings file {path} could not be used ({exc}); defaults are in use, {where}"],
        )


def save(settings: Settings, path: Path) -> None:
    validate(settings.model_dump())  # never write what we could not read back
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = json.dumps(settings.model_dump(), indent=2, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
