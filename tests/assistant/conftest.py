"""The core, opened on a fresh data folder: what every frontend opens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mneme.assistant.core import Assistant


@pytest.fixture
def core(home: Path, embedder) -> Iterator[Assistant]:  # type: ignore[no-untyped-def]
    assistant = Assistant.from_environment(embedder=embedder)
    yield assistant
    assistant.close()
