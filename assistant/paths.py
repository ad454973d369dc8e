"""Where Mneme keeps its files.

platformdirs gives each OS's usual folders; ``MNEME_HOME`` puts all four under
one folder instead, so tests and separate profiles never share state. Every
folder is created private to the user (0700).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "mneme"
HOME_ENV = "MNEME_HOME"


@dataclass(frozen=True, slots=True)
class AppPaths:
    data: Path
    config: Path
    cache: Path
    logs: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> AppPaths:
        root = home if home is not None else os.environ.get(HOME_ENV)
        if root:
            base = Path(root).expanduser().resolve()
            return cls(base / "data", base / "config", base / "cache", base / "logs")
        import platformdirs

        return cls(
            Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        )

    def ensure(self) -> AppPaths:
        for folder in (self.data, self.config, self.cache, self.logs):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(OSError):  # e.g. a folder owned by someone else
                folder.chmod(0o700)
        return self

    @property
    def memory(self) -> Path:
        return self.data / "memory"

    @property
    def models(self) -> Path:
        """Where GGUF files the user adds or downloads go."""
        return self.data / "models"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"
