"""What can go wrong with a model download, in words a person can act on.

Kept apart from :mod:`.downloads` (which does the fetching): every failure is
one :class:`DownloadError` of a :class:`DownloadErrorKind`, with a sentence
that says what happened, whether the part already fetched was kept, and what
to do (check the address, free disk space, wait and try again).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit


class DownloadErrorKind(StrEnum):
    INVALID_URL = "invalid-url"
    INVALID_CHECKSUM = "invalid-checksum"
    NOT_FOUND = "not-found"
    ACCESS_DENIED = "access-denied"
    SERVER = "server"
    HTTP = "http"
    CONNECTION = "connection"
    CERTIFICATE = "certificate"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    DISK_FULL = "disk-full"
    WRITE = "write"
    CHECKSUM = "checksum"
    NOT_GGUF = "not-gguf"
    EXISTS = "exists"
    BUSY = "busy"


class DownloadError(Exception):
    """A download that failed; ``str()`` is a sentence to show the user.

    ``partial`` is the ``.part`` file kept for a later resume, if there is one.
    """

    def __init__(
        self,
        message: str,
        kind: DownloadErrorKind,
        *,
        status: int | None = None,
        partial: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.partial = partial

    @property
    def message(self) -> str:
        return str(self)


def host_of(url: str) -> str:
    return urlsplit(url).hostname or "the server"


def invalid(message: str) -> DownloadError:
    return DownloadError(message, DownloadErrorKind.INVALID_URL)


def not_gguf(content_type: str | None) -> DownloadError:
    hint = (
        " The address leads to a web page; use the link of the .gguf file itself."
        if content_type and content_type.startswith("text/html")
        else " Check that the address leads to a .gguf file."
    )
    return DownloadError(
        "This is not a GGUF model file, so it was not kept." + hint, DownloadErrorKind.NOT_GGUF
    )


def http_error(status: int, url: str, partial: Path | None) -> DownloadError:
    host = host_of(url)
    if status == 404 or status == 410:
        text = f"The file was not found on {host} (HTTP {status}). Check the address."
        kind = DownloadErrorKind.NOT_FOUND
    elif status in (401, 403):
        text = (
            f"{host} refused access to this file (HTTP {status}). It may need an account "
            "or accepting its licence on the website; choose another model or file."
        )
        kind = DownloadErrorKind.ACCESS_DENIED
    elif status == 429:
        text = f"{host} is limiting downloads (HTTP 429). Wait a while and try again."
        kind = DownloadErrorKind.SERVER
    elif status >= 500:
        text = f"{host} had a problem (HTTP {status}). Try again later."
        kind = DownloadErrorKind.SERVER
    else:
        text = f"{host} refused the download (HTTP {status})."
        kind = DownloadErrorKind.HTTP
    if partial is not None:
        text += " The part already downloaded is kept."
    return DownloadError(text, kind, status=status, partial=partial)


def connect_error(exc: Exception, url: str) -> DownloadError:
    import ssl  # ~7 ms; only needed once a connection has failed

    host = host_of(url)
    chain = list(causes(exc))
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or any(
        "CERTIFICATE_VERIFY_FAILED" in str(e) for e in chain
    ):
        return DownloadError(
            f"The security certificate of {host} could not be verified, so nothing was "
            "downloaded. Someone may be intercepting the connection, or the computer's clock "
            "is wrong.",
            DownloadErrorKind.CERTIFICATE,
        )
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return DownloadError(
            f"{host} refused the connection. Check the address, or try again later.",
            DownloadErrorKind.CONNECTION,
        )
    if any(isinstance(e, OSError) and e.errno in NAME_ERRORS for e in chain) or any(
        "Name or service not known" in str(e) or "getaddrinfo" in str(e) for e in chain
    ):
        return DownloadError(
            f"The server name {host} could not be found. Check the address and the internet "
            "connection.",
            DownloadErrorKind.CONNECTION,
        )
    return DownloadError(
        f"Could not connect to {host}. Check the internet connection and try again.",
        DownloadErrorKind.CONNECTION,
    )


NAME_ERRORS = {-2, -3, -5, 11001, 11004}  # EAI_NONAME, EAI_AGAIN, EAI_NODATA; WSA equivalents


def causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def write_error(exc: OSError, folder: Path, partial: Path | None) -> DownloadError:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        text = f"The disk is full: the model could not be written to {folder}."
        if partial is not None:
            text += " Free some space and download it again to continue where it stopped."
        return DownloadError(text, DownloadErrorKind.DISK_FULL, partial=partial)
    return DownloadError(
        f"The model could not be written to {folder}: {exc.strerror or exc}.",
        DownloadErrorKind.WRITE,
        partial=partial,
    )
