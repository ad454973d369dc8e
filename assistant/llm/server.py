"""A chat model on an OpenAI-compatible server (llama-server, llama_cpp.server, …).

For people whose model lives on another machine. Replies stream over
server-sent events; Stop closes the connection between chunks. Only the
connection is retried (with backoff): once a reply has started, a failure is
reported, since replaying it would repeat what was already shown.

Token counts come from the server's tokenizer when it offers one (llama.cpp's
``/tokenize``, llama-cpp-python's ``/extras/tokenize``); otherwise from an
estimate of 3.5 characters per token, which the prompt builder's margin
absorbs.

Reading ahead while a message is typed works on the servers that keep the
prompt they last read and reuse its beginning: llama.cpp's (asked to with
``cache_prompt``) and llama-cpp-python's, known by their tokenizer. A request
for one token of reply reads the prompt there, in the background, so the model
is free at once; a reply that follows finds the prompt read. With any other
server reading ahead does nothing: it would be a whole paid-for request each
time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .base import CancelToken, ChatMessage, GenerationError, ModelLoadError, SamplingParams

log = logging.getLogger(__name__)

_CONTINUE = (
    "Continue your last reply exactly where it stopped, without repeating anything "
    "and without any preamble."
)
_PER_MESSAGE = 4  # role markers and separators of a typical chat template
_CHARS_PER_TOKEN = 3.5


class ServerBackend:
    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        model: str = "",
        context_length: int = 4096,
        timeout: float = 60.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ModelLoadError(f"not a model server URL: {url!r}")
        self.url = url.rstrip("/")
        root_path = parts.path[: -len("/v1")] if parts.path.endswith("/v1") else parts.path
        self._root = urlunsplit((parts.scheme, parts.netloc, root_path, "", ""))
        self._model = model
        self._context = context_length
        self._retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            transport=transport,
            follow_redirects=False,
        )
        self._tokenize_path: str | bool | None = False  # False: not probed yet
        self._lock = threading.Lock()
        self._reading_ahead: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self._model or f"server at {urlsplit(self.url).netloc}"

    @property
    def context_length(self) -> int:
        return self._context

    def load(self) -> None:
        """Check that the server answers (and learn its context window if it says)."""
        response = self._request("GET", f"{self.url}/models")
        if response.status_code in (401, 403):
            raise ModelLoadError(f"the model server at {self.url} refused the API key")
        if not 200 <= response.status_code < 300:
            raise ModelLoadError(
                f"the model server at {self.url} answered {response.status_code} to /models"
            )
        try:
            props = self._client.get(f"{self._root}/props", timeout=5.0)
            n_ctx = _json(props).get("default_generation_settings", {}).get("n_ctx")
            if isinstance(n_ctx, int) and not isinstance(n_ctx, bool) and 256 <= n_ctx < 2**31:
                self._context = n_ctx
        except (httpx.HTTPError, ValueError, AttributeError):
            pass

    def close(self) -> None:
        self._client.close()

    # -- requests with retries -------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        delay = 0.5
        for attempt in range(self._retries + 1):
            try:
                return self._client.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                raise ModelLoadError(
                    f"the model server at {self.url} did not answer in time"
                ) from exc
            except httpx.TransportError as exc:  # refused, reset, not HTTP, closed early
                if attempt == self._retries:
                    raise ModelLoadError(
                        f"the model server at {self.url} cannot be reached: {_short(exc)}"
                    ) from exc
                log.info("model server unreachable (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay *= 2
            except httpx.HTTPError as exc:
                raise ModelLoadError(
                    f"the model server at {self.url} cannot be used: {_short(exc)}"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- tokens ----------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        path = self._tokenizer()
        if path:
            try:
                body = {"content": text} if path == "/tokenize" else {"input": text}
                reply = self._client.post(f"{self._root}{path}", json=body)
                tokens = _json(reply).get("tokens")
                # a token is at least a byte of the text (plus a start marker); a server
                # that says otherwise is not believed
                if isinstance(tokens, list) and len(tokens) <= len(text.encode()) + 8:
                    return len(tokens)
            except (httpx.HTTPError, ValueError, AttributeError):
                pass
        return int(len(text) / _CHARS_PER_TOKEN) + 1

    def _tokenizer(self) -> str | None:
        """The server's tokenizer path, asked for once."""
        if self._tokenize_path is False:
            self._tokenize_path = self._probe_tokenizer()
        return self._tokenize_path if isinstance(self._tokenize_path, str) else None

    def _probe_tokenizer(self) -> str | None:
        for path, body in (("/tokenize", {"content": "hi"}), ("/extras/tokenize", {"input": "hi"})):
            try:
                reply = self._client.post(f"{self._root}{path}", json=body, timeout=5.0)
                if reply.status_code == 200 and isinstance(_json(reply).get("tokens"), list):
                    return path
            except (httpx.HTTPError, ValueError, AttributeError):
                continue
        return None

    def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        return sum(self.count_tokens(m.content) + _PER_MESSAGE for m in messages) + 3

    # -- generation ------------------------------------------------------------------

    def read_prompt(
        self,
        messages: Sequence[ChatMessage],
        *,
        cancel: CancelToken | None = None,
        continue_last: bool = False,
        step: int | None = None,
    ) -> Iterator[tuple[int, int]]:
        """A server reads the prompt itself and does not say how far it got; with ``step``
        (reading ahead), a llama.cpp server is asked to read it now (see the module)."""
        if step is not None and not continue_last and self.keeps_prompts:
            ahead = self._reading_ahead
            if ahead is None or not ahead.is_alive():  # one at a time; a newer draft waits
                wire = [{"role": m.role, "content": m.content} for m in messages]
                ahead = threading.Thread(
                    target=self._read_on_server, args=(wire,), name="mneme-server-read-ahead"
                )
                ahead.daemon = True
                self._reading_ahead = ahead
                ahead.start()
        return iter(())

    @property
    def keeps_prompts(self) -> bool:
        """Whether the server reuses the beginning of the prompt it last read (llama.cpp's)."""
        return self._tokenizer() in ("/tokenize", "/extras/tokenize")

    def _read_on_server(self, wire: list[dict[str, str]]) -> None:
        body: dict[str, Any] = {"messages": wire, "max_tokens": 1, "temperature": 0.0}
        if self._model:
            body["model"] = self._model
        if self._tokenizer() == "/tokenize":
            body["cache_prompt"] = True  # llama-server's; llama-cpp-python keeps it anyway
        try:
            self._client.post(f"{self.url}/chat/completions", json=body)
        except (httpx.HTTPError, RuntimeError) as exc:  # a reply, if any, says what is wrong
            log.debug("reading ahead on the server failed: %s", exc)

    def wait_read_ahead(self, timeout: float | None = None) -> None:
        """Until the prompt asked to be read ahead is read (for tests and measuring)."""
        ahead = self._reading_ahead
        if ahead is not None:
            ahead.join(timeout)

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
        json_schema: dict[str, Any] | None = None,
        continue_last: bool = False,
    ) -> Iterator[str]:
        wire = [{"role": m.role, "content": m.content} for m in messages]
        if continue_last:
            # The chat API has no "carry on": ask for it in words; the caller joins the parts.
            wire.append({"role": "user", "content": _CONTINUE})
        body: dict[str, Any] = {
            "messages": wire,
            "stream": True,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "top_k": params.top_k,
            "min_p": params.min_p,
            "repeat_penalty": params.repeat_penalty,
        }
        if self._model:
            body["model"] = self._model
        if params.seed is not None:
            body["seed"] = params.seed
        if json_schema is not None:
            body["response_format"] = {"type": "json_object", "schema": json_schema}
            body["json_schema"] = json_schema  # llama-server's spelling
        if cancel is not None and cancel.cancelled:
            return
        with self._lock:
            first = continue_last
            for piece in self._stream(body, cancel):
                if first and piece and not piece[:1].isspace():
                    piece = " " + piece  # a new sentence after the earlier part, not glued on
                first = first and not piece
                yield piece

    def _stream(self, body: dict[str, Any], cancel: CancelToken | None) -> Iterator[str]:
        url = f"{self.url}/chat/completions"
        delay = 0.5
        for attempt in range(self._retries + 1):
            try:
                context = self._client.stream("POST", url, json=body)
                response = context.__enter__()
                break
            except httpx.TimeoutException as exc:
                raise GenerationError(f"the model server at {self.url} did not answer") from exc
            except httpx.TransportError as exc:  # nothing was received yet: safe to retry
                if attempt == self._retries:
                    raise GenerationError(
                        f"the model server at {self.url} cannot be reached: {_short(exc)}"
                    ) from exc
                time.sleep(delay)
                delay *= 2
            except httpx.HTTPError as exc:
                raise GenerationError(
                    f"the model server at {self.url} cannot be used: {_short(exc)}"
                ) from exc
        try:
            if response.status_code >= 400:
                detail = _head(response).decode("utf-8", "replace")[:300]
                if response.status_code in (401, 403):
                    raise GenerationError(f"the model server refused the API key ({detail})")
                raise GenerationError(
                    f"the model server answered {response.status_code}: {detail or 'no detail'}"
                )
            finished = False
            for line in response.iter_lines():
                if cancel is not None and cancel.cancelled:
                    return
                if not line or line.startswith(":"):
                    continue
                if not line.startswith("data:"):
                    raise GenerationError("the model server sent something that is not a stream")
                data = line[5:].strip()
                if data == "[DONE]":
                    finished = True
                    break
                piece = _delta(data)
                if piece:
                    yield piece
            if not finished and not (cancel is not None and cancel.cancelled):
                raise GenerationError("the model server closed the connection mid-reply")
        except httpx.TimeoutException as exc:
            raise GenerationError("the model server stopped answering mid-reply") from exc
        except httpx.HTTPError as exc:
            raise GenerationError(f"the connection to the model server broke: {exc}") from exc
        finally:
            context.__exit__(None, None, None)


def _short(exc: Exception) -> str:
    return str(exc)[:200] or type(exc).__name__


def _json(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object; ValueError for anything else."""
    try:
        value = json.loads(response.content)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _head(response: httpx.Response, limit: int = 4096) -> bytes:
    """The start of an error body; a server may send megabytes of it."""
    data = b""
    for piece in response.iter_bytes():
        data += piece
        if len(data) >= limit:
            break
    return data[:limit]


def _delta(data: str) -> str:
    try:
        event = json.loads(data)
        choice = event["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
        raise GenerationError("the model server sent a malformed chunk") from exc
    if not isinstance(choice, dict):
        raise GenerationError("the model server sent a malformed chunk")
    delta = choice.get("delta") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    if content is None:
        content = choice.get("text")
    if content is not None and not isinstance(content, str):
        raise GenerationError("the model server sent a malformed chunk")
    return content or ""
