"""The built-in list of recommended models is well-formed data."""

from __future__ import annotations

from mneme.assistant.catalogue import CATALOGUE, find
from mneme.assistant.downloads import filename_for, normalise_url


def test_every_entry_points_at_a_gguf_file_on_hugging_face() -> None:
    assert len(CATALOGUE) >= 4
    assert len({e.file for e in CATALOGUE}) == len(CATALOGUE)
    for entry in CATALOGUE:
        assert entry.url == (f"https://huggingface.co/{entry.repo}/resolve/main/{entry.file}")
        assert normalise_url(entry.url) == entry.url  # already the file, not the page
        assert filename_for(entry.url) == entry.file  # downloads keep the catalogue's name
        assert entry.file.endswith(".gguf") and entry.repo.count("/") == 1
        assert 300_000_000 < entry.size_bytes < entry.ram_bytes <= 8_000_000_000
        assert entry.license and entry.sha256 is None  # unverified offline: none claimed
        assert find(entry.file) is entry
    assert find("unknown.gguf") is None
