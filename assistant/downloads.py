"""Download GGUF models into the models folder: resumable, verified, never half-installed.

Models are gigabytes and home connections drop, so a download grows as
``<name>.part`` next to its final name and continues from there with an HTTP
``Range`` request the next time the same file is fetched (an ``If-Range``
validator, kept in a small ``<name>.part.json``, makes the server start over
if the file changed in between). Only a complete file that starts with the
GGUF magic, and matches its SHA-256 when one is given, is renamed to its final
name, so the models list never shows half a model.

TLS certificates are always verified, with no way to turn that off: llama.cpp
parses whatever file lands here, and nobody on the path may swap it. URLs are
logged without their query string, where download tokens live.

No Qt here: the UI runs :func:`download_steps` in a worker and shows the
:class:`DownloadProgress` items it yields; the CLI can call :func:`download`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from .download_errors import (
    DownloadError,
    DownloadErrorKind,
    connect_error,
    host_of,
    http_error,
    invalid,
    not_gguf,
    write_error,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
PART_SUFFIX = ".part"
USER_AGENT = "Mneme model downloader"
HUGGING_FACE_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})
_HASH_BLOCK = 4 * 1024 * 1024
_SPEED_TAU_S = 3.0
"""Time constant of the speed's smoothing: a few seconds, so the figure is steady but current."""


class DownloadStatus(StrEnum):
    COMPLETE = "complete"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    done: int
    """Bytes of the file on disk so far, including what an earlier attempt fetched."""
    total: int | None
    """Size of the whole file, when the server says."""
    speed: float
    """Bytes per second, smoothed over the last few seconds."""
    resumed_from: int = 0
    """Bytes that were already there when this download started."""

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None

    @property
    def seconds_left(self) -> float | None:
        if not self.total or self.speed <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.speed)


@dataclass(frozen=True, slots=True)
class DownloadResult:
    status: DownloadStatus
    path: Path
    """The model file when complete; the ``.part`` file kept for resuming when paused."""
    size: int
    """Bytes on disk."""
    total: int | None
    sha256: str | None
    """Of the complete file (None when paused)."""
    resumed_from: int = 0

    @property
    def complete(self) -> bool:
        return self.status is DownloadStatus.COMPLETE


# -- addresses ------------------------------------------------------------------------------


def normalise_url(url: str) -> str:
    """The address to fetch: http(s) only; a Hugging Face page link becomes its file link.

    ``https://huggingface.co/<owner>/<repo>/blob/<rev>/<file>`` is the page that shows
    a file; ``…/resolve/…`` is the file itself.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise invalid("This is not a valid web address.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise invalid("Only http:// and https:// addresses can be downloaded.")
    if not host or any(c.isspace() for c in text):
        raise invalid("This is not a valid web address.")
    path = parts.path
    if host.lower() in HUGGING_FACE_HOSTS:
        segments = path.split("/")
        # "", owner, repo, kind, rev, file... (datasets/spaces have one more segment first)
        first = 2 if len(segments) > 1 and segments[1] in ("datasets", "spaces") else 1
        kind_at = first + 2
        if len(segments) > kind_at + 2:
            if segments[kind_at] == "blob":
                segments[kind_at] = "resolve"
            elif segments[kind_at] == "tree":
                raise invalid(
                    "This Hugging Face address is a folder, not a file: open the .gguf file "
                    "there and copy its address."
                )
        path = "/".join(segments)
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, parts.query, ""))


def redact(url: str) -> str:
    """The address without credentials, query string or fragment, for logs and messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid address>"
    if ":" in host:
        host = f"[{host}]"
    suffix = "?…" if parts.query else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", "")) + suffix


def filename_for(url: str) -> str:
    """A safe local file name from the address's last path segment, ending in ``.gguf``."""
    segment = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return safe_filename(segment)


def safe_filename(name: str) -> str:
    name = re.sub(r"[^\w.+-]", "_", name.replace("\\", "/").rsplit("/", 1)[-1]).lstrip(".")
    name = name[:200] or "model"
    return name if name.lower().endswith(".gguf") else f"{name}.gguf"


def destination(url: str, folder: Path, filename: str | None = None) -> Path:
    """Where :func:`download_steps` puts the file (its ``.part`` is next to it)."""
    return folder / (safe_filename(filename) if filename else filename_for(normalise_url(url)))


def part_path(final: Path) -> Path:
    return final.with_name(final.name + PART_SUFFIX)


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def discard_partial(part: Path) -> None:
    """Delete a paused download (its ``.part`` file and what we noted about it)."""
    part.unlink(missing_ok=True)
    _meta_path(part).unlink(missing_ok=True)


def is_gguf(path: Path) -> bool:
    """Whether the file starts with the GGUF magic (reads four bytes)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def format_bytes(n: float) -> str:
    """``512 bytes``, ``2.1 MB``, ``810 MB``, ``1.1 GB`` (decimal units, as sites show sizes)."""
    if abs(n) < 1000:
        return f"{n:.0f} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1000
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.1f} {unit}" if abs(n) < 100 else f"{n:.0f} {unit}"
    raise AssertionError("unreachable")


# -- the download ---------------------------------------------------------------------------


def download(
    url: str,
    folder: Path,
    *,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    sha256: str | None = None,
    filename: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    progress_interval: float = 0.2,
) -> DownloadResult:
    """:func:`download_steps`, reporting progress through a callback (for the CLI and tests)."""
    steps = download_steps(
        url,
        folder,
        sha256=sha256,
        filename=filename,
        should_stop=should_stop,
        timeout=timeout,
        retries=retries,
        progress_interval=progress_interval,
    )
    try:
        while True:
            progress = next(steps)
            if on_progress is not None:
                on_progress(progress)
    except StopIteration as done:
        result: DownloadResult = done.value
        return result
    finally:
        steps.close()


def download_steps(
    url: str,
    folder: Path,
    *,
    sha256: str | None = None,
    filename: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    progress_interval: float = 0.2,
) -> Generator[DownloadProgress, None, DownloadResult]:
    """Fetch ``url`` into ``folder``; yields progress, returns the :class:`DownloadResult`.

    ``should_stop`` is asked between chunks: when it says yes, the ``.part`` file is
    kept and a PAUSED result returned; the same call later continues from there.
    A dropped connection is resumed automatically up to ``retries`` times as long
    as each attempt made progress. Failures raise :class:`DownloadError`.
    """
    source = normalise_url(url)
    expected = _checksum(sha256)
    final = destination(source, folder, filename)
    name = final.name
    stop = should_stop or _never
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, folder, None) from exc
    if final.exists():
        raise DownloadError(
            f"{name} is already in the models folder. Remove it first to download it again.",
            DownloadErrorKind.EXISTS,
        )
    part = part_path(final)
    with _claim(part), _client(timeout) as client:
        log.info("downloading %s to %s", redact(source), final)
        job = _Job(client, source, part, stop, progress_interval)
        attempts = 0
        while True:
            try:
                outcome = yield from job.attempt()
            except _Retry as retry:
                if retry.progressed and attempts < retries:
                    attempts += 1
                    log.info("download interrupted (%s); resuming", retry.error)
                    continue
                raise retry.error from retry.__cause__
            if outcome is _Outcome.PAUSED:
                size = _size(part)
                log.info("download paused at %d bytes", size)
                return DownloadResult(
                    DownloadStatus.PAUSED, part, size, job.total, None, job.resumed_from
                )
            if outcome is _Outcome.RESTART:
                attempts += 1
                if attempts > retries + 1:
                    raise DownloadError(
                        "The server kept answering the resume request wrongly; try again later.",
                        DownloadErrorKind.HTTP,
                    )
                continue
            break
        digest = job.hashed.digest_of(part, stop)
        if digest is None:
            return DownloadResult(
                DownloadStatus.PAUSED, part, _size(part), job.total, None, job.resumed_from
            )
        if not is_gguf(part):
            discard_partial(part)
            raise not_gguf(None)
        if expected is not None and digest != expected:
            discard_partial(part)
            raise DownloadError(
                f"The downloaded file does not match its SHA-256 checksum (expected {expected}, "
                f"got {digest}), so it was deleted. Check the checksum, or download it again.",
                DownloadErrorKind.CHECKSUM,
            )
        target = _install(part, final)
        _meta_path(part).unlink(missing_ok=True)
        log.info("downloaded %s (%d bytes)", target.name, _size(target))
        return DownloadResult(
            DownloadStatus.COMPLETE, target, _size(target), job.total, digest, job.resumed_from
        )


class _Outcome(StrEnum):
    DONE = "done"
    PAUSED = "paused"
    RESTART = "restart"


class _Retry(Exception):
    """An attempt broke off in a way worth retrying (if it got anywhere)."""

    def __init__(self, error: DownloadError, progressed: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.progressed = progressed


class _Hashed:
    """SHA-256 of the first ``length`` bytes of the part file, carried across attempts."""

    def __init__(self) -> None:
        self.hasher = hashlib.sha256()
        self.length = 0

    def reset(self) -> None:
        self.hasher = hashlib.sha256()
        self.length = 0

    def update(self, data: bytes) -> None:
        self.hasher.update(data)
        self.length += len(data)

    def catch_up(self, part: Path, stop: Callable[[], bool]) -> bool:
        """Hash what is on disk but not hashed yet; False if stopped on the way."""
        size = _size(part)
        if size < self.length:
            self.reset()
        if size == self.length:
            return True
        with open(part, "rb") as handle:
            handle.seek(self.length)
            while block := handle.read(_HASH_BLOCK):
                self.update(block)
                if stop():
                    return False
        return True

    def digest_of(self, part: Path, stop: Callable[[], bool]) -> str | None:
        return self.hasher.hexdigest() if self.catch_up(part, stop) else None


class _Meter:
    """Progress items at most every ``interval`` seconds, with a smoothed speed."""

    def __init__(self, interval: float, resumed_from: int) -> None:
        self.interval = interval
        self.resumed_from = resumed_from
        self.speed = 0.0
        self._t = time.monotonic()
        self._done: int | None = None

    def restart(self, done: int) -> None:
        self._t = time.monotonic()
        self._done = done

    def due(self) -> bool:
        return time.monotonic() - self._t >= self.interval

    def sample(self, done: int, total: int | None) -> DownloadProgress:
        now = time.monotonic()
        dt = now - self._t
        if self._done is not None and dt > 0:
            rate = max(0, done - self._done) / dt
            weight = 1.0 - math.exp(-dt / _SPEED_TAU_S)
            self.speed = rate if self.speed == 0 else self.speed + weight * (rate - self.speed)
        self._t, self._done = now, done
        return DownloadProgress(done, total, self.speed, self.resumed_from)


class _Job:
    def __init__(
        self,
        client: httpx.Client,
        url: str,
        part: Path,
        stop: Callable[[], bool],
        interval: float,
    ) -> None:
        self.client = client
        self.url = url
        self.part = part
        self.stop = stop
        self.hashed = _Hashed()
        self.total: int | None = None
        self.resumed_from = _size(part) if part.is_file() else 0
        self.meter = _Meter(interval, self.resumed_from)

    def attempt(self) -> Generator[DownloadProgress, None, _Outcome]:
        import httpx

        part = self.part
        if _size(part) and not is_gguf(part):
            # not from us (a download never keeps a part without the magic): start afresh
            discard_partial(part)
        if self.stop() or not self.hashed.catch_up(part, self.stop):
            return _Outcome.PAUSED
        offset = _size(part)
        headers: dict[str, str] = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = _load_validator(part)
            if validator:
                headers["If-Range"] = validator
        written = 0
        try:
            with self.client.stream("GET", self.url, headers=headers) as response:
                opened = self._open(response, offset)
                if isinstance(opened, _Outcome):
                    return opened
                mode, offset = opened
                if mode == "wb":
                    self.hashed.reset()
                    self.resumed_from = 0
                    self.meter.resumed_from = 0
                self._check_space(offset)
                self.meter.restart(offset)
                yield self.meter.sample(offset, self.total)
                head = b""
                with open(part, mode) as out:
                    # as the network delivers it: a chunker would lose its buffer on a drop
                    for chunk in response.iter_bytes():
                        if offset == 0 and len(head) < 4:
                            head += chunk[:4]
                            if len(head) >= 4 and not head.startswith(GGUF_MAGIC):
                                out.close()
                                discard_partial(part)
                                raise not_gguf(response.headers.get("content-type"))
                        out.write(chunk)
                        self.hashed.update(chunk)
                        written += len(chunk)
                        if self.stop():
                            out.flush()
                            yield self.meter.sample(offset + written, self.total)
                            return _Outcome.PAUSED
                        if self.meter.due():
                            yield self.meter.sample(offset + written, self.total)
                done = offset + written
                yield self.meter.sample(done, self.total)
        except DownloadError:
            raise
        except httpx.TimeoutException as exc:
            raise _Retry(
                DownloadError(
                    f"The server at {host_of(self.url)} stopped answering (timed out). "
                    f"{self._kept()}",
                    DownloadErrorKind.TIMEOUT,
                    partial=self._partial(),
                ),
                progressed=written > 0,
            ) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise _Retry(
                DownloadError(
                    f"The connection to {host_of(self.url)} broke off. {self._kept()}",
                    DownloadErrorKind.INTERRUPTED,
                    partial=self._partial(),
                ),
                progressed=written > 0,
            ) from exc
        except httpx.TooManyRedirects as exc:
            raise DownloadError(
                "The address redirects too many times; it does not lead to a file.",
                DownloadErrorKind.HTTP,
            ) from exc
        except httpx.ConnectError as exc:
            raise connect_error(exc, self.url) from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise invalid("This is not a valid web address.") from exc
        except httpx.HTTPError as exc:
            raise DownloadError(
                f"The download from {host_of(self.url)} failed ({type(exc).__name__}). "
                f"{self._kept()}",
                DownloadErrorKind.CONNECTION,
                partial=self._partial(),
            ) from exc
        except OSError as exc:
            raise write_error(exc, part.parent, self._partial()) from exc
        if self.total is not None and done < self.total:
            raise _Retry(
                DownloadError(
                    f"The connection to {host_of(self.url)} ended early, after "
                    f"{format_bytes(done)} of {format_bytes(self.total)}. {self._kept()}",
                    DownloadErrorKind.INTERRUPTED,
                    partial=self._partial(),
                ),
                progressed=written > 0,
            )
        return _Outcome.DONE

    def _open(self, response: httpx.Response, offset: int) -> tuple[str, int] | _Outcome:
        """How to write the body: append at ``offset`` or write afresh; or what to do instead."""
        status = response.status_code
        if status == 416 and offset:
            total = _content_range_total(response.headers.get("content-range"))
            self.total = total
            if total is not None and total == offset:
                return _Outcome.DONE  # the part already holds the whole file
            log.info("server refused the range at %d (file is %s bytes); restarting", offset, total)
            discard_partial(self.part)
            self.hashed.reset()
            return _Outcome.RESTART
        if status >= 400:
            raise http_error(status, self.url, self._partial())
        if status == 206:
            start, total = _content_range(response.headers.get("content-range"))
            if start != offset:
                log.info("server resumed at %s, not %d; restarting", start, offset)
                discard_partial(self.part)
                self.hashed.reset()
                return _Outcome.RESTART
            self.total = total
            _save_validator(self.part, response, total)
            return "ab", offset
        if status == 200:
            if offset:
                log.info("server ignored the range (or the file changed); starting over")
            length = response.headers.get("content-length")
            self.total = int(length) if length and length.isdigit() else None
            _save_validator(self.part, response, self.total)
            return "wb", 0
        raise DownloadError(
            f"The server at {host_of(self.url)} answered with HTTP {status} instead of the file.",
            DownloadErrorKind.HTTP,
            status=status,
        )

    def _check_space(self, offset: int) -> None:
        if self.total is None:
            return
        need = self.total - offset
        try:
            free = shutil.disk_usage(self.part.parent).free
        except OSError:
            return
        if need > free:
            raise DownloadError(
                f"Not enough free disk space in {self.part.parent}: the model needs "
                f"{format_bytes(need)} more and {format_bytes(free)} is free.",
                DownloadErrorKind.DISK_FULL,
                partial=self._partial(),
            )

    def _partial(self) -> Path | None:
        return self.part if _size(self.part) else None

    def _kept(self) -> str:
        if self._partial() is None:
            return "Try again later."
        return (
            f"The {format_bytes(_size(self.part))} already downloaded are kept; "
            "download it again to continue."
        )


# -- helpers ----------------------------------------------------------------------------


def _never() -> bool:
    return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _checksum(sha256: str | None) -> str | None:
    if sha256 is None or not sha256.strip():
        return None
    value = sha256.strip().lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise DownloadError(
            "The SHA-256 checksum must be 64 hexadecimal characters.",
            DownloadErrorKind.INVALID_CHECKSUM,
        )
    return value


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from ``bytes 100-199/2000`` (total may be ``*``)."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", header or "")
    if match is None:
        return None, None
    total = match.group(2)
    return int(match.group(1)), int(total) if total != "*" else None


def _content_range_total(header: str | None) -> int | None:
    match = re.fullmatch(r"\s*bytes\s+(?:\*|\d+-\d+)/(\d+)\s*", header or "")
    return int(match.group(1)) if match else None


def _save_validator(part: Path, response: httpx.Response, total: int | None) -> None:
    """Keep what identifies this version of the file, so a resume can ask for the same one."""
    etag = response.headers.get("etag")
    strong = etag if etag and not etag.startswith("W/") else None
    data = {"etag": strong, "last_modified": response.headers.get("last-modified"), "total": total}
    with contextlib.suppress(OSError):
        _meta_path(part).write_text(json.dumps(data), encoding="utf-8")


def _load_validator(part: Path) -> str | None:
    try:
        data = json.loads(_meta_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("etag") or data.get("last_modified")
    return value if isinstance(value, str) else None


def _install(part: Path, final: Path) -> Path:
    """Rename without ever replacing a file; a name taken meanwhile gets a free one."""
    target = final
    for n in range(2, 1000):
        try:
            _rename_no_clobber(part, target)
            return target
        except FileExistsError:
            target = final.with_name(f"{final.stem}-{n}{final.suffix}")
    raise DownloadError(
        f"No free file name for {final.name} in {final.parent}.", DownloadErrorKind.EXISTS
    )


def _rename_no_clobber(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # atomic, and fails if dst exists
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some network drives)
        if dst.exists():
            raise FileExistsError(dst) from None
        os.rename(src, dst)  # on Windows this refuses to replace, too
        return
    src.unlink()


_claimed: set[Path] = set()
_claim_lock = threading.Lock()


@contextlib.contextmanager
def _claim(part: Path) -> Iterator[None]:
    """One download per file at a time: two writers would interleave their bytes."""
    key = part.resolve()
    with _claim_lock:
        if key in _claimed:
            raise DownloadError(
                f"{part.name.removesuffix(PART_SUFFIX)} is already being downloaded.",
                DownloadErrorKind.BUSY,
            )
        _claimed.add(key)
    try:
        yield
    finally:
        with _claim_lock:
            _claimed.discard(key)


class _RedactQuery(logging.Filter):
    """httpx logs each request's full URL at INFO; drop the query string, where tokens live."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(str(arg)) if type(arg).__name__ == "URL" else arg for arg in record.args
            )
        return True


_redactor = _RedactQuery()


def _client(timeout: float) -> httpx.Client:
    import httpx  # ~0.1 s to import; only paid when something is downloaded

    logger = logging.getLogger("httpx")
    if _redactor not in logger.filters:
        logger.addFilter(_redactor)
    return httpx.Client(
        verify=True,  # always, on purpose: there is no option to turn it off
        follow_redirects=True,
        max_redirects=10,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )
