"""Model downloads against a real HTTP server on loopback: resume, pause, checks, errors."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mneme.assistant.download_errors import DownloadError, DownloadErrorKind
from mneme.assistant.downloads import (
    DownloadProgress,
    DownloadStatus,
    download,
    download_steps,
    format_bytes,
    normalise_url,
    part_path,
    redact,
)
from tests.file_server import FileServer, Served, self_signed_tls, serve
from tests.servers import free_port

SIZE = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return b"GGUF" + os.urandom(SIZE - 4)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "models"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server(model_bytes: bytes) -> Iterator[FileServer]:
    files = {
        "/m/model.gguf": Served(model_bytes),
        "/m/drops.gguf": Served(model_bytes, drop_after=700_000, drops=1),
        "/m/drops-twice.gguf": Served(model_bytes, drop_after=300_000, drops=2),
        "/m/no-range.gguf": Served(model_bytes, ignore_range=True),
        "/m/page.gguf": Served(b"<!DOCTYPE html><html>hello</html>", content_type="text/html"),
        "/m/moved.gguf": Served(redirect_to="/m/model.gguf"),
        "/m/broken.gguf": Served(status=503),
        "/m/private.gguf": Served(status=403),
    }
    with serve(files) as s:
        yield s


def test_a_full_download_is_verified_and_installed(
    server: FileServer, folder: Path, model_bytes: bytes
) -> None:
    seen: list[DownloadProgress] = []
    result = download(
        server.url("/m/model.gguf"),
        folder,
        sha256=sha(model_bytes).upper(),
        on_progress=seen.append,
        progress_interval=0,
    )
    assert result.status is DownloadStatus.COMPLETE and result.complete
    assert result.path == folder / "model.gguf"
    assert result.path.read_bytes() == model_bytes
    assert result.sha256 == sha(model_bytes) and result.size == SIZE == result.total
    assert not part_path(result.path).exists()
    assert [p.name for p in folder.iterdir()] == ["model.gguf"]  # no .part, no notes left
    assert seen[-1].done == SIZE and seen[-1].total == SIZE and seen[-1].fraction == 1.0
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert any(p.speed > 0 for p in seen)
    assert server.seen("/m/model.gguf")[0].headers.get("accept-encoding") == "identity"


def test_an_interrupted_download_resumes_with_a_range_request(
    server: FileServer, folder: Path, model_bytes: bytes
) -> None:
    url = server.url("/m/drops.gguf")
    with pytest.raises(DownloadError) as caught:
        download(url, folder, retries=0)
    error = caught.value
    assert error.kind is DownloadErrorKind.INTERRUPTED
    part = folder / "drops.gguf.part"
    assert error.partial == part and part.stat().st_size == 700_000
    assert "kept" in str(error) and "drops.gguf" not in str(error).split("kept")[1]
    assert not (folder / "drops.gguf").exists()

    result = download(url, folder, sha256=sha(model_bytes))
    assert result.complete and result.resumed_from == 700_000
    assert result.path.read_bytes() == model_bytes
    second = server.seen("/m/drops.gguf")[1]
    assert second.headers["range"] == "bytes=700000-"
    assert second.headers["if-range"] == Served(model_bytes).etag
    assert not part.exists()


def test_a_dropped_connection_is_resumed_automatically(
    server: FileServer, folder: Path, model_bytes: bytes
) -> None:
    result = download(server.url("/m/drops-twice.gguf"), folder, sha256=sha(model_bytes))
    assert result.path.read_bytes() == model_bytes
    ranges = [r.headers.get("range") for r in server.seen("/m/drops-twice.gguf")]
    assert ranges == [None, "bytes=300000-", "bytes=600000-"]


def test_pause_keeps_the_part_and_a_later_download_completes_it(
    server: FileServer, folder: Path, model_bytes: bytes
) -> None:
    checks = 0

    def should_stop() -> bool:
        nonlocal checks
        checks += 1
        return checks > 4  # a few chunks in

    url = server.url("/m/model.gguf")
    paused = download(url, folder, should_stop=should_stop)
    assert paused.status is DownloadStatus.PAUSED and not paused.complete
    assert paused.path == folder / "model.gguf.part"
    assert 0 < paused.size < SIZE and paused.path.read_bytes() == model_bytes[: paused.size]
    assert paused.total == SIZE and paused.sha256 is None
    assert not (folder / "model.gguf").exists()

    done = download(url, folder, sha256=sha(model_bytes))
    assert done.complete and done.resumed_from == paused.size
    assert done.path.read_bytes() == model_bytes
    assert server.seen("/m/model.gguf")[-1].headers["range"] == f"bytes={paused.size}-"


def test_a_server_that_ignores_the_range_is_downloaded_again_from_the_start(
    server: FileServer, folder: Path, model_bytes: bytes
) -> None:
    folder.mkdir()
    (folder / "no-range.gguf.part").write_bytes(b"GGUF" + b"stale" * 1000)
    result = download(server.url("/m/no-range.gguf"), folder, sha256=sha(model_bytes))
    assert result.path.read_bytes() == model_bytes and result.resumed_from == 0
    assert server.seen("/m/no-range.gguf")[0].headers["range"] == "bytes=5004-"


def test_a_file_that_changed_on_the_server_is_not_spliced(
    server: FileServer, folder: Path, model_bytes: bytes
) -> None:
    folder.mkdir()
    part = folder / "model.gguf.part"
    part.write_bytes(b"GGUF" + b"old version" * 100)
    (folder / "model.gguf.part.json").write_text('{"etag": "\\"old\\"", "total": 9999}')
    result = download(server.url("/m/model.gguf"), folder, sha256=sha(model_bytes))
    assert result.path.read_bytes() == model_bytes
    assert server.seen("/m/model.gguf")[0].headers["if-range"] == '"old"'


def test_a_complete_part_is_finished_without_downloading_again(
    server: FileServer, folder: Path, model_bytes: bytes
) -> None:
    folder.mkdir()
    (folder / "model.gguf.part").write_bytes(model_bytes)
    result = download(server.url("/m/model.gguf"), folder, sha256=sha(model_bytes))
    assert result.complete and result.path.read_bytes() == model_bytes
    assert result.resumed_from == SIZE


def test_a_part_longer_than_the_file_starts_over(
    server: FileServer, folder: Path, model_bytes: bytes
) -> None:
    folder.mkdir()
    (folder / "model.gguf.part").write_bytes(model_bytes + b"extra")
    result = download(server.url("/m/model.gguf"), folder, sha256=sha(model_bytes))
    assert result.path.read_bytes() == model_bytes
    assert [r.headers.get("range") for r in server.seen("/m/model.gguf")] == [
        f"bytes={SIZE + 5}-",
        None,
    ]


def test_a_wrong_checksum_deletes_the_download_and_says_both_values(
    server: FileServer, folder: Path, model_bytes: bytes
) -> None:
    wrong = "ab" * 32
    with pytest.raises(DownloadError) as caught:
        download(server.url("/m/model.gguf"), folder, sha256=wrong)
    assert caught.value.kind is DownloadErrorKind.CHECKSUM
    message = str(caught.value)
    assert f"expected {wrong}" in message and f"got {sha(model_bytes)}" in message
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_malformed_checksum_is_refused_before_downloading(
    server: FileServer, folder: Path
) -> None:
    with pytest.raises(DownloadError, match="64 hexadecimal") as caught:
        download(server.url("/m/model.gguf"), folder, sha256="1234")
    assert caught.value.kind is DownloadErrorKind.INVALID_CHECKSUM
    assert server.requests == []


def test_a_web_page_is_not_kept_as_a_model(server: FileServer, folder: Path) -> None:
    with pytest.raises(DownloadError, match="not a GGUF model file") as caught:
        download(server.url("/m/page.gguf"), folder)
    assert caught.value.kind is DownloadErrorKind.NOT_GGUF
    assert "web page" in str(caught.value)
    assert list(folder.iterdir()) == []


def test_http_errors_are_explained(server: FileServer, folder: Path) -> None:
    cases = {
        "/m/missing.gguf": (DownloadErrorKind.NOT_FOUND, "not found", 404),
        "/m/private.gguf": (DownloadErrorKind.ACCESS_DENIED, "refused access", 403),
        "/m/broken.gguf": (DownloadErrorKind.SERVER, "had a problem", 503),
    }
    for path, (kind, words, status) in cases.items():
        with pytest.raises(DownloadError) as caught:
            download(server.url(path), folder)
        assert caught.value.kind is kind and caught.value.status == status
        assert words in str(caught.value) and f"HTTP {status}" in str(caught.value)
        assert "127.0.0.1" in str(caught.value)
    assert list(folder.iterdir()) == []


def test_redirects_are_followed(server: FileServer, folder: Path, model_bytes: bytes) -> None:
    result = download(server.url("/m/moved.gguf"), folder)
    assert result.path == folder / "moved.gguf" and result.path.read_bytes() == model_bytes
    assert len(server.seen("/m/model.gguf")) == 1


def test_an_existing_model_is_never_replaced(server: FileServer, folder: Path) -> None:
    folder.mkdir()
    (folder / "model.gguf").write_bytes(b"GGUF mine")
    with pytest.raises(DownloadError, match="already in the models folder") as caught:
        download(server.url("/m/model.gguf"), folder)
    assert caught.value.kind is DownloadErrorKind.EXISTS
    assert (folder / "model.gguf").read_bytes() == b"GGUF mine"
    assert server.requests == []


def test_a_name_taken_during_the_download_gets_a_free_one(
    server: FileServer, folder: Path, model_bytes: bytes
) -> None:
    steps = download_steps(server.url("/m/model.gguf"), folder)
    next(steps)  # the request is answered, the part is being written
    (folder / "model.gguf").write_bytes(b"GGUF someone else's")
    try:
        while True:
            next(steps)
    except StopIteration as stop:
        result = stop.value
    assert result.path == folder / "model-2.gguf" and result.path.read_bytes() == model_bytes
    assert (folder / "model.gguf").read_bytes() == b"GGUF someone else's"


def test_the_same_file_is_not_downloaded_twice_at_once(server: FileServer, folder: Path) -> None:
    first = download_steps(server.url("/m/model.gguf"), folder, progress_interval=0)
    next(first), next(first)  # answered, and a chunk written
    with pytest.raises(DownloadError, match="already being downloaded"):
        download(server.url("/m/model.gguf"), folder)
    first.close()
    assert (folder / "model.gguf.part").exists()  # closing the generator keeps the part


def test_only_web_addresses_are_accepted(folder: Path) -> None:
    for url in ("ftp://example.org/m.gguf", "file:///etc/passwd", "/tmp/m.gguf", "m.gguf"):
        with pytest.raises(DownloadError, match=r"Only http:// and https://") as caught:
            download(url, folder)
        assert caught.value.kind is DownloadErrorKind.INVALID_URL
    for url in ("http://", "https://exa mple.org/m.gguf", "http://host:port/m.gguf"):
        with pytest.raises(DownloadError, match="not a valid web address"):
            download(url, folder)
    assert not folder.exists()


def test_hugging_face_page_links_become_file_links() -> None:
    blob = "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/blob/main/q.gguf"
    resolve = "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/q.gguf"
    assert normalise_url(blob) == resolve
    assert normalise_url(resolve) == resolve
    assert normalise_url(blob + "?download=true") == resolve + "?download=true"
    assert normalise_url("  " + blob.replace("huggingface.co", "hf.co") + " ") == resolve.replace(
        "huggingface.co", "hf.co"
    )
    assert (
        normalise_url("https://huggingface.co/datasets/o/r/blob/v1.0/sub/dir/x.gguf")
        == "https://huggingface.co/datasets/o/r/resolve/v1.0/sub/dir/x.gguf"
    )
    # only Hugging Face's own pages are rewritten
    other = "https://example.org/o/r/blob/main/q.gguf"
    assert normalise_url(other) == other
    with pytest.raises(DownloadError, match="folder, not a file"):
        normalise_url("https://huggingface.co/o/r/tree/main/sub")


def test_tokens_in_the_address_stay_out_of_logs_and_messages(
    server: FileServer, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = server.url("/m/missing.gguf?token=SECRET-123")
    with pytest.raises(DownloadError) as caught:
        download(url, folder)
    assert "SECRET-123" not in str(caught.value)
    assert "HTTP Request" in caplog.text  # httpx did log the request…
    assert "SECRET-123" not in caplog.text  # …without the token
    assert redact("https://user:pw@h.example:8443/a/b.gguf?t=1#f") == (
        "https://h.example:8443/a/b.gguf?…"
    )


def test_a_refused_connection_is_explained(folder: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/m.gguf"
    with pytest.raises(DownloadError, match="refused the connection") as caught:
        download(url, folder)
    assert caught.value.kind is DownloadErrorKind.CONNECTION


def test_a_stalled_server_times_out_and_keeps_the_part(model_bytes: bytes, folder: Path) -> None:
    stalled = Served(model_bytes, gate_after=100_000)
    with serve({"/slow.gguf": stalled}) as s:
        with pytest.raises(DownloadError, match="timed out") as caught:
            download(s.url("/slow.gguf"), folder, timeout=0.5, retries=0)
        assert caught.value.kind is DownloadErrorKind.TIMEOUT
        assert caught.value.partial == folder / "slow.gguf.part"
        assert (folder / "slow.gguf.part").stat().st_size == 100_000


def test_a_full_disk_is_reported_and_nothing_installed(server: FileServer, folder: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full to make the kernel answer ENOSPC")
    folder.mkdir()
    (folder / "model.gguf.part").symlink_to("/dev/full")  # every write: no space left
    with pytest.raises(DownloadError, match="disk is full") as caught:
        download(server.url("/m/model.gguf"), folder)
    assert caught.value.kind is DownloadErrorKind.DISK_FULL
    assert not (folder / "model.gguf").exists()


def test_certificates_are_verified(model_bytes: bytes, tmp_path: Path, folder: Path) -> None:
    pytest.importorskip("cryptography")
    tls = self_signed_tls(tmp_path)
    with serve({"/m.gguf": Served(model_bytes)}, tls=tls) as s:
        assert s.url("/m.gguf").startswith("https://")
        with pytest.raises(DownloadError, match="certificate") as caught:
            download(s.url("/m.gguf"), folder)
    assert caught.value.kind is DownloadErrorKind.CERTIFICATE
    assert list(folder.iterdir()) == []


def test_sizes_read_as_websites_show_them() -> None:
    assert format_bytes(512) == "512 bytes"
    assert format_bytes(1500) == "1.5 KB"
    assert format_bytes(SIZE) == "2.1 MB"
    assert format_bytes(810_000_000) == "810 MB"
    assert format_bytes(1_120_000_000) == "1.1 GB"
    assert format_bytes(4_500_000_000_000) == "4500 GB"
