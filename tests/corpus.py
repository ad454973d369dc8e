"""Malformed inputs for every file Mneme reads, made from a seed, and the checks run on them.

Five kinds, each at least 500 inputs, built deterministically from a real, valid
input by targeted and random mutation:

* ``gguf``: a tiny real llama GGUF (``tests/gguf_factory.py``) truncated at many
  offsets, with wrong magic and versions, absurd tensor/metadata counts and
  string lengths, bad type codes, damaged tensor descriptions, odd model
  parameters, broken chat templates and random byte flips;
* ``settings``: the settings file, invalid JSON, wrong types and versions,
  out-of-range values, deep nesting, huge and non-UTF-8 files;
* ``export``: Mneme's JSON export, every field of a memory given every wrong
  type, non-finite numbers, duplicate and colliding ids, broken structure;
* ``chatgpt``: ChatGPT's ``conversations.json`` (the hand-written fixture),
  broken trees, cycles, wrong types, huge and non-finite values;
* ``server``: raw HTTP responses of an OpenAI-compatible model server, wrong
  status lines and codes, broken SSE framing, malformed chunks, wrong types,
  truncated streams, huge bodies.

Each input goes through the path the app takes (``Assistant`` reading settings,
``LlamaCppBackend`` opening a model, ``importers.import_file``, ``ServerBackend``)
and is counted as a *clear error* (only the documented, typed error escaped, and
its message is a sentence), *accepted* (a mutation that is still valid, or an
import that skipped what did not fit) or *unexpected* (anything else escaped, a
message that is not a sentence, existing data changed, or a crash). GGUF files
that pass the app's header check are also loaded by llama.cpp, in a separate
process so that a crash is seen rather than suffered.

``tests/test_malformed_inputs.py`` runs a sample; ``python -m benchmarks.malformed``
runs everything.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mneme.assistant.llm.gguf_header import _SCALARS  # the reader's table of the spec's value types

KINDS = ("gguf", "settings", "export", "chatgpt", "server")
ROOT = Path(__file__).resolve().parents[1]
CHATGPT_FIXTURE = ROOT / "tests" / "fixtures" / "chatgpt" / "conversations.json"
DEEP = 100_000
"""Nesting depth of the "deeply nested" inputs: far beyond Python's recursion limit."""


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    """What was done to the valid input, e.g. ``truncated at 1234``."""
    data: bytes


@dataclass(slots=True)
class Tally:
    kind: str
    tried: int = 0
    clear_error: int = 0
    accepted: int = 0
    unexpected: list[str] = field(default_factory=list)
    """One line per input that let something else escape, damaged data or crashed."""
    crashes: int = 0
    notes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unexpected"] = len(self.unexpected)
        data["unexpected_cases"] = self.unexpected[:50]
        return data


def is_sentence(message: object) -> bool:
    """A message a person can read: words, not a repr, a traceback or a wall of data."""
    text = str(message).strip()
    return (
        12 <= len(text) <= 2000
        and len(text.split()) >= 3
        and "Traceback" not in text
        and not text.startswith(("<", "{", "[", "("))
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:200]!r}"


def _pick(rng: random.Random, items: Sequence[Any], n: int) -> list[Any]:
    return list(items) if len(items) <= n else rng.sample(list(items), n)


def _deep(text: str, placeholder: str = '"__DEEP__"') -> str:
    return text.replace(placeholder, "[" * DEEP + "]" * DEEP, 1)


def _flips(
    rng: random.Random, data: bytes, count: int, *, lo: int = 0, hi: int | None = None
) -> bytes:
    out = bytearray(data)
    hi = len(out) if hi is None else min(hi, len(out))
    for _ in range(count):
        if hi > lo:
            out[rng.randrange(lo, hi)] = rng.randrange(256)
    return bytes(out)


def _truncations(rng: random.Random, data: bytes, n: int, *, dense: int = 0) -> list[Case]:
    """Cuts at every one of the first ``dense`` bytes, then at ``n`` random places."""
    offsets = sorted(
        set(range(min(dense, len(data)))) | set(rng.sample(range(len(data)), min(n, len(data))))
    )
    return [Case(f"truncated at {o}", data[:o]) for o in offsets]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


#: Values of every JSON type and the awkward corners of each.
WRONG_VALUES: tuple[tuple[str, Any], ...] = (
    ("null", None),
    ("true", True),
    ("false", False),
    ("zero", 0),
    ("minus one", -1),
    ("a fraction", 0.5),
    ("2**63", 2**63),
    ("-2**63-1", -(2**63) - 1),
    ("10**30", 10**30),
    ("1e308", 1e308),
    ("-1e308", -1e308),
    ("NaN", math.nan),
    ("Infinity", math.inf),
    ("-Infinity", -math.inf),
    ("empty text", ""),
    ("text", "seven"),
    ("numeric text", "42"),
    ("NUL text", "a\x00b"),
    ("lone surrogate", "\ud800x"),
    ("huge text", "x" * 3_000_000),
    ("empty list", []),
    ("list", [1, "two", None]),
    ("object", {"a": 1}),
    ("deep nesting", "__DEEP__"),
)


def _with_value(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


# -- GGUF ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GGUFField:
    what: str
    """version, tensor_count, kv_count, key_len, value_type, string_len, array_type,
    array_count, scalar, name_len, n_dims, dim, tensor_type, tensor_offset"""
    offset: int
    width: int
    key: str = ""
    type_code: int = -1
    value: int | float = 0


def gguf_fields(data: bytes) -> tuple[list[GGUFField], int]:
    """Where each field of a (valid) GGUF header is, and where the tensor infos end."""
    fields: list[GGUFField] = [
        GGUFField("version", 4, 4),
        GGUFField("tensor_count", 8, 8),
        GGUFField("kv_count", 16, 8),
    ]
    tensor_count, kv_count = struct.unpack_from("<QQ", data, 8)
    pos = 24

    def u32() -> int:
        nonlocal pos
        (v,) = struct.unpack_from("<I", data, pos)
        pos += 4
        return int(v)

    def u64() -> int:
        nonlocal pos
        (v,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        return int(v)

    def string(what: str, key: str) -> str:
        nonlocal pos
        fields.append(GGUFField(what, pos, 8, key))
        n = u64()
        text = data[pos : pos + n].decode("utf-8", "replace")
        pos += n
        return text

    for _ in range(kv_count):
        key = string("key_len", "")
        fields.append(GGUFField("value_type", pos, 4, key))
        type_code = u32()
        if type_code == 8:
            string("string_len", key)
        elif type_code == 9:
            fields.append(GGUFField("array_type", pos, 4, key))
            item = u32()
            fields.append(GGUFField("array_count", pos, 8, key))
            count = u64()
            for i in range(count):
                if item == 8:
                    string("string_len", f"{key}[{i}]")
                else:
                    pos += struct.calcsize(_SCALARS[item])
        else:
            fmt = _SCALARS[type_code]
            (value,) = struct.unpack_from(fmt, data, pos)
            fields.append(GGUFField("scalar", pos, struct.calcsize(fmt), key, type_code, value))
            pos += struct.calcsize(fmt)
    for _ in range(tensor_count):
        name = string("name_len", "")
        fields.append(GGUFField("n_dims", pos, 4, name))
        n_dims = u32()
        for _ in range(n_dims):
            fields.append(
                GGUFField("dim", pos, 8, name, value=struct.unpack_from("<Q", data, pos)[0])
            )
            pos += 8
        fields.append(GGUFField("tensor_type", pos, 4, name))
        pos += 4
        fields.append(
            GGUFField("tensor_offset", pos, 8, name, value=struct.unpack_from("<Q", data, pos)[0])
        )
        pos += 8
    return fields, pos


def _put(data: bytes, f: GGUFField, value: int | float, fmt: str | None = None) -> bytes:
    out = bytearray(data)
    if fmt is None:
        fmt = "<I" if f.width == 4 else "<Q"
        value = int(value) & (0xFFFFFFFF if f.width == 4 else 0xFFFFFFFFFFFFFFFF)
    struct.pack_into(fmt, out, f.offset, value)
    return bytes(out)


BROKEN_TEMPLATES = (
    "{% for message in messages %}{{ message['content'] }",
    "{% if %}",
    "{{ raise_exception('this template refuses everything') }}",
    "{% for m in messages %}{{ m.content | nosuchfilter }}{% endfor %}",
    "{{ messages[99]['content'] }}",
    "{% macro %}",
    "{{ 1 / 0 }}",
    "{% endfor %}",
    "",
    "{{ }}",
)


def gguf_cases(
    base: bytes, seed: int = 1, *, template_variants: Sequence[tuple[str, bytes]] = ()
) -> list[Case]:
    """At least 500 damaged copies of ``base`` (a valid GGUF)."""
    rng = random.Random(seed)
    fields, header_end = gguf_fields(base)
    size = len(base)
    out: list[Case] = []
    out += _truncations(rng, base, 110, dense=40)
    out += [
        Case(f"cut to the header ({header_end} bytes) + {n}", base[: header_end + n])
        for n in (0, 1, 31, 32, 33, 4096)
    ]
    for magic in (
        b"GGML",
        b"GGJT",
        b"ggUF",
        b"FUGG",
        b"\0\0\0\0",
        b"GGU\0",
        b"\xff\xff\xff\xff",
        b"PK\x03\x04",
        b"\x7fELF",
        b"GGUF"[::-1],
    ):
        out.append(Case(f"magic {magic!r}", magic + base[4:]))
    by_what: dict[str, list[GGUFField]] = {}
    for f in fields:
        by_what.setdefault(f.what, []).append(f)
    version = by_what["version"][0]
    for v in (0, 1, 4, 5, 255, 256, 2**16, 2**31, 2**32 - 1, 0x03000000):
        out.append(Case(f"version {v}", _put(base, version, v)))
    for what in ("tensor_count", "kv_count"):
        f = by_what[what][0]
        for v in (0, 1, 20, 22, 23, 24, 100, 2**31, 2**32, 2**40, 2**63, 2**64 - 1):
            out.append(Case(f"{what} {v}", _put(base, f, v)))
    absurd_lengths = (0, 1, 2**64 - 1, 2**63, 2**32, 16 * 2**20 + 1, size, size + 1)
    for f in (
        _pick(rng, by_what["key_len"], 8)
        + _pick(rng, by_what["string_len"], 10)
        + _pick(rng, by_what["name_len"], 6)
    ):
        for v in _pick(rng, absurd_lengths, 5):
            out.append(Case(f"{f.what} of {f.key or 'a name'} = {v}", _put(base, f, v)))
    for f in by_what["value_type"]:
        for v in _pick(rng, (0, 6, 8, 9, 12, 13, 255, 2**32 - 1), 3):
            out.append(Case(f"value type of {f.key} = {v}", _put(base, f, v)))
    for f in by_what["array_type"]:
        for v in (9, 13, 255, 8, 0, 12):
            out.append(Case(f"array type of {f.key} = {v}", _put(base, f, v)))
    for f in by_what["array_count"]:
        for v in (0, 1, 2**20, 2**40, 2**64 - 1):
            out.append(Case(f"array count of {f.key} = {v}", _put(base, f, v)))
    for f in _pick(rng, by_what["n_dims"], 6):
        for v in (0, 3, 5, 2**32 - 1):
            out.append(Case(f"dimensions of {f.key} = {v}", _put(base, f, v)))
    for f in _pick(rng, by_what["dim"], 8):
        for v in (0, 1, int(f.value) + 1, int(f.value) * 2, 2**41, 2**63, 2**64 - 1):
            out.append(Case(f"a dimension of {f.key} = {v}", _put(base, f, v)))
    for f in _pick(rng, by_what["tensor_type"], 6):
        for v in (1, 2, 8, 4, 39, 100, 2**32 - 1):
            out.append(Case(f"type of {f.key} = {v}", _put(base, f, v)))
    for f in _pick(rng, by_what["tensor_offset"], 6):
        for v in (int(f.value) + 1, int(f.value) + 32, 0, size, 2**63, 2**64 - 32):
            out.append(Case(f"offset of {f.key} = {v}", _put(base, f, v)))
    # model parameters that are well-formed but nonsense: they pass the header check
    for f in by_what["scalar"]:
        if f.type_code == 4:
            for v in (0, 1, 3, int(f.value) + 1, 2**31, 2**32 - 1):
                out.append(Case(f"{f.key} = {v}", _put(base, f, v)))
        elif f.type_code == 6:
            for fv in (0.0, -1.0, math.nan, math.inf, 1e30):
                out.append(Case(f"{f.key} = {fv}", _put(base, f, fv, "<f")))
        elif f.type_code == 7:
            out.append(Case(f"{f.key} = 2 (not a bool)", _put(base, f, 2, "<B")))
    for f in by_what["array_count"]:  # the items of numeric arrays (token types, scores)
        item_type = struct.unpack_from("<I", base, f.offset - 4)[0]
        if item_type in (5, 6):
            count = struct.unpack_from("<Q", base, f.offset)[0]
            values: tuple[float, ...] = (
                (0, 7, 8, -1, 2**31 - 1)
                if item_type == 5
                else (math.nan, math.inf, -math.inf, -1e30)
            )
            for i in _pick(rng, range(count), 4):
                for number in values:
                    item = GGUFField("item", f.offset + 8 + 4 * i, 4)
                    fmt = "<i" if item_type == 5 else "<f"
                    out.append(Case(f"{f.key}[{i}] = {number}", _put(base, item, number, fmt)))
    tokenizer = next(f for f in by_what["string_len"] if f.key == "tokenizer.ggml.model")
    for name in (b"gpt2\0", b"bert ", b"none ", b"rwkv ", b"\0\0\0\0\0"):
        edited = bytearray(base)
        edited[tokenizer.offset + 8 : tokenizer.offset + 13] = name
        out.append(Case(f"tokenizer {name!r}", bytes(edited)))
    arch = next(f for f in by_what["string_len"] if f.key == "general.architecture")
    for name in (b"llamb", b"LLAMA", b"\xff\xfe\xfd\xfc\xfb", b"gpt-2"):
        edited = bytearray(base)
        edited[arch.offset + 8 : arch.offset + 13] = name
        out.append(Case(f"architecture {name!r}", bytes(edited)))
    out += [Case(f"chat template {label}", data) for label, data in template_variants]
    out += [
        Case("empty", b""),
        Case("23 bytes", base[:23]),
        Case("zeros of the same size", b"\0" * size),
        Case("text", b"this is not a model, it is a shopping list\n" * 100),
        Case("only the magic", b"GGUF"),
        Case("random bytes after the magic", b"GGUF" + rng.randbytes(4096)),
        Case("the header twice", base[:header_end] * 2),
        Case("doubled", base + base),
    ]
    rest = max(0, 560 - len(out))
    for i in range(rest):
        if i % 4 == 3:  # weights: llama.cpp should not care
            data = _flips(rng, base, rng.randint(1, 16), lo=header_end)
            out.append(Case(f"weight bytes flipped #{i}", data))
        else:
            data = _flips(rng, base, rng.randint(1, 8), hi=header_end)
            out.append(Case(f"header bytes flipped #{i}", data))
    return out


def gguf_template_variants(folder: Path) -> list[tuple[str, bytes]]:
    from tests.gguf_factory import write_tiny_llama

    found = []
    for i, template in enumerate(BROKEN_TEMPLATES):
        path = write_tiny_llama(folder / f"template-{i}.gguf", chat_template=template)
        found.append((repr(template[:30]), path.read_bytes()))
        path.unlink()
    return found


# -- settings ------------------------------------------------------------------------------


def _settings_leaves(value: dict[str, Any], prefix: str = "") -> list[str]:
    leaves = []
    for key, item in value.items():
        if isinstance(item, dict):
            leaves += _settings_leaves(item, f"{prefix}{key}.")
        else:
            leaves.append(prefix + key)
    return leaves


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        data = data[part]
    data[leaf] = value


def settings_cases(seed: int = 1) -> list[Case]:
    from mneme.assistant.settings import Settings

    rng = random.Random(seed)
    valid = Settings().model_dump()
    valid["model"]["threads"] = 2
    base = _dumps(valid)
    out: list[Case] = []
    out += _truncations(rng, base, 40, dense=3)
    out += [Case(f"bytes flipped #{i}", _flips(rng, base, rng.randint(1, 6))) for i in range(40)]
    for label, text in (
        ("empty", b""),
        ("blank", b"  \n\t "),
        ("null", b"null"),
        ("true", b"true"),
        ("a number", b"12"),
        ("a string", b'"settings"'),
        ("a list", b"[1, 2]"),
        ("an empty list", b"[]"),
        ("an empty object", b"{}"),
        ("an open brace", b"{"),
        ("mismatched", b"{]"),
        ("two objects", b"{}{}"),
        ("trailing comma", b'{"version": 2,}'),
        ("single quotes", b"{'version': 2}"),
        ("comments", b'{"version": 2 /* two */}'),
        ("NUL bytes", b"\0" * 64),
        ("UTF-8 BOM", b"\xef\xbb\xbf" + base),
        ("UTF-16", json.dumps(valid).encode("utf-16")),
        ("latin-1", json.dumps({"chat": {"system_prompt": "caf\u00e9"}}).encode("latin-1")),
        ("invalid UTF-8", base.replace(b"Mneme", b"Mn\xff\xfeme", 1)),
        ("lone surrogate escape", b'{"chat": {"system_prompt": "\\ud800"}}'),
        ("deep nesting", _deep('{"model": "__DEEP__"}').encode()),
        ("deep objects", ('{"a":' * DEEP + "1" + "}" * DEEP).encode()),
        ("100,000 keys", _dumps({f"k{i}": i for i in range(100_000)})),
        ("duplicate keys", b'{"version": 2, "version": 99}'),
        ("huge", _dumps({**valid, "chat": {"system_prompt": "x" * 20_000_000}})),
        ("huge number", b'{"version": 2, "model": {"threads": 1' + b"0" * 5000 + b"}}"),
    ):
        out.append(Case(label, text))
    for label, version in (*WRONG_VALUES, ("1", 1), ("2", 2), ("3", 3), ("99", 99), ("1.5", 1.5)):
        out.append(
            Case(
                f"version {label}",
                _deep(
                    _dumps({**valid, "version": version}).decode("utf-8", "surrogatepass")
                ).encode("utf-8", "surrogatepass"),
            )
        )
    for section in ("model", "generation", "server", "memory", "chat", "ui", "secrets"):
        for label, value in (
            ("null", None),
            ("a list", [1]),
            ("text", "x"),
            ("a number", 3),
            ("true", True),
        ):
            for version in (1, 2):
                data = {**valid, "version": version, section: value}
                out.append(Case(f"version {version}, {section} = {label}", _dumps(data)))
    leaves = [leaf for leaf in _settings_leaves(valid) if leaf != "version"]
    for leaf in leaves:
        for label, value in WRONG_VALUES:
            data = json.loads(json.dumps(valid))
            _set_path(data, leaf, value)
            dumped = _dumps(data).decode("utf-8", "surrogatepass")
            out.append(Case(f"{leaf} = {label}", _deep(dumped).encode("utf-8", "surrogatepass")))
    for leaf in leaves:
        data = json.loads(json.dumps(valid))
        *parents, name = leaf.split(".")
        target = data
        for part in parents:
            target = target[part]
        del target[name]
        out.append(Case(f"{leaf} missing", _dumps(data)))
    v1 = {"version": 1, "model": {"threads": 2, "temperature": 0.3, "max_tokens": 9}}
    for label, value in (("null", None), ("a list", [1, 2]), ("text", "x"), ("a number", 3)):
        out.append(Case(f"version 1, generation = {label}", _dumps({**v1, "generation": value})))
        out.append(
            Case(
                f"version 1, temperature = {label}", _dumps({**v1, "model": {"temperature": value}})
            )
        )
    out.append(
        Case(
            "unknown keys",
            _dumps({**valid, "future": {"x": 1}, "model": {**valid["model"], "new": 2}}),
        )
    )
    return out


# -- Mneme export --------------------------------------------------------------------------

MEMORY_FIELDS = (
    "id",
    "kind",
    "text",
    "said_at",
    "stored_at",
    "updated_at",
    "conversation_id",
    "role",
    "speaker",
    "seq",
    "pinned",
    "importance",
    "confidence",
    "state",
    "sources",
    "valid_from",
    "valid_to",
    "superseded_by",
    "scope",
    "version",
    "author",
    "extra",
    "access_count",
    "last_access",
)


def export_cases(base: bytes, existing_ids: Sequence[str], seed: int = 1) -> list[Case]:
    """At least 500 damaged copies of a real export; ``existing_ids`` are already in the
    store the copies are imported into (to try collisions)."""
    rng = random.Random(seed)
    valid = json.loads(base)
    n = len(valid["memories"])
    out: list[Case] = []
    out += _truncations(rng, base, 50, dense=2)
    out += [Case(f"bytes flipped #{i}", _flips(rng, base, rng.randint(1, 6))) for i in range(50)]

    def variant(label: str, change: Callable[..., object]) -> None:
        data = json.loads(base)
        change(data)
        text = json.dumps(data, ensure_ascii=False, allow_nan=True)
        out.append(Case(label, _deep(text).encode("utf-8", "surrogatepass")))

    for label, value in WRONG_VALUES:
        variant(f"the whole file is {label}", lambda d, v=value: (d.clear(), d.update({"x": v})))
        variant(f"format = {label}", lambda d, v=value: d.update(format=v))
        variant(f"version = {label}", lambda d, v=value: d.update(version=v))
        for key in ("memories", "history", "conversations"):
            variant(f"{key} = {label}", lambda d, v=value, k=key: d.update({k: v}))
            variant(f"an item of {key} = {label}", lambda d, v=value, k=key: d[k].append(v))
    for name in MEMORY_FIELDS:
        for label, value in WRONG_VALUES:
            i = rng.randrange(n)
            variant(
                f"memory #{i} {name} = {label}",
                lambda d, i=i, k=name, v=value: d["memories"][i].update({k: v}),
            )
        i = rng.randrange(n)
        variant(f"memory #{i} without {name}", lambda d, i=i, k=name: d["memories"][i].pop(k, None))
    for label, value in WRONG_VALUES[::2]:
        variant(
            f"a history entry's changed_at = {label}",
            lambda d, v=value: d["history"][0].update(changed_at=v),
        )
        variant(
            f"a history entry's memory = {label}",
            lambda d, v=value: d["history"][0].update(memory=v),
        )
        for key in ("id", "title", "created_at", "updated_at"):
            variant(
                f"a conversation's {key} = {label}",
                lambda d, v=value, k=key: d["conversations"][0].update({k: v}),
            )
    for label, value in (
        ("sources", ["x"] * 50_000),
        ("extra", {f"k{i}": i for i in range(40)}),
        ("extra", {"nested": {"a": 1}}),
        ("extra", {"": 1}),
        ("text", " \n\t "),
        ("kind", "EPISODE"),
        ("state", "deleted"),
        ("author", "someone"),
    ):
        variant(
            f"memory #0 {label} odd", lambda d, k=label, v=value: d["memories"][0].update({k: v})
        )
    variant("a memory twice", lambda d: d["memories"].append(dict(d["memories"][0])))
    variant("every memory twice", lambda d: d["memories"].extend([dict(m) for m in d["memories"]]))
    variant(
        "the same id, another text",
        lambda d: d["memories"].append({**d["memories"][0], "text": "an impostor"}),
    )
    for existing in existing_ids[:4]:
        variant(
            f"id {existing} already in the store",
            lambda d, e=existing: d["memories"][0].update(id=e, text="not what the store holds"),
        )
        variant(
            f"history for {existing}",
            lambda d, e=existing: d["history"].append(
                {
                    "memory": {**d["memories"][0], "id": e, "text": "old", "version": 1},
                    "changed_at": 1.0,
                }
            ),
        )
    variant(
        "a conversation already in the store",
        lambda d: d["conversations"].append(
            {"id": "home", "title": "Hijacked", "created_at": 0.0, "updated_at": 9e9}
        ),
    )
    variant("a source cycle", lambda d: d["memories"][0].update(sources=[d["memories"][0]["id"]]))
    variant("an unknown source", lambda d: d["memories"][0].update(sources=["nope"]))
    variant(
        "3,000 memories",
        lambda d: d["memories"].extend(
            {**d["memories"][0], "id": f"bulk-{i}"} for i in range(3000)
        ),
    )
    variant(
        "a text of 2,000,001 characters", lambda d: d["memories"][0].update(text="y" * 2_000_001)
    )
    for label, text in (
        ("empty", b""),
        ("blank", b"   "),
        ("UTF-16", base.decode().encode("utf-16")),
        ("latin-1", base.decode().encode("latin-1", "replace")),
        ("BOM", b"\xef\xbb\xbf" + base),
        ("NUL bytes", b"\0" * 100),
        ("a list", b"[]"),
        (
            "deep",
            _deep(
                '{"format": "mneme-memory-export", "version": 1, "memories": "__DEEP__"}'
            ).encode(),
        ),
    ):
        out.append(Case(label, text))
    return out


# -- ChatGPT export ------------------------------------------------------------------------


def chatgpt_cases(base: bytes, seed: int = 1) -> list[Case]:
    rng = random.Random(seed)
    valid = json.loads(base)
    out: list[Case] = []
    out += _truncations(rng, base, 60, dense=3)
    out += [Case(f"bytes flipped #{i}", _flips(rng, base, rng.randint(1, 6))) for i in range(60)]

    def variant(label: str, change: Callable[..., object]) -> None:
        data = json.loads(base)
        change(data)
        text = json.dumps(data, ensure_ascii=False, allow_nan=True)
        out.append(Case(label, _deep(text).encode("utf-8", "surrogatepass")))

    def nodes(data: list[Any], c: int) -> list[dict[str, Any]]:
        return [n for _, n in sorted(data[c]["mapping"].items())]

    def messages(data: list[Any], c: int) -> list[dict[str, Any]]:
        return [n["message"] for n in nodes(data, c) if isinstance(n.get("message"), dict)]

    with_messages = [
        i
        for i, c in enumerate(valid)
        if any(isinstance(n.get("message"), dict) for n in (c.get("mapping") or {}).values())
    ]
    for label, value in WRONG_VALUES:
        variant(f"a conversation is {label}", lambda d, v=value: d.insert(1, v))
        c = rng.choice(with_messages)
        for key in (
            "mapping",
            "current_node",
            "title",
            "create_time",
            "update_time",
            "conversation_id",
            "id",
        ):
            variant(
                f"conversation {c} {key} = {label}",
                lambda d, c=c, k=key, v=value: d[c].update({k: v}),
            )
        for key in ("parent", "children", "message", "id"):
            variant(
                f"a node's {key} = {label}",
                lambda d, c=c, k=key, v=value: rng.choice(nodes(d, c)).update({k: v}),
            )
        for key in ("author", "content", "create_time", "metadata", "recipient", "id"):
            variant(
                f"a message's {key} = {label}",
                lambda d, c=c, k=key, v=value: rng.choice(messages(d, c)).update({k: v}),
            )
        variant(
            f"a role = {label}",
            lambda d, c=c, v=value: rng.choice(messages(d, c)).update(author={"role": v}),
        )
        variant(
            f"a content's parts = {label}",
            lambda d, c=c, v=value: rng.choice(messages(d, c)).update(
                content={"content_type": "text", "parts": v}
            ),
        )
        variant(
            f"a part = {label}",
            lambda d, c=c, v=value: rng.choice(messages(d, c)).update(
                content={"content_type": "text", "parts": [v]}
            ),
        )
        variant(
            f"a content's text = {label}",
            lambda d, c=c, v=value: rng.choice(messages(d, c)).update(
                content={"content_type": "text", "text": v}
            ),
        )
        variant(
            f"a message's metadata flag = {label}",
            lambda d, c=c, v=value: rng.choice(messages(d, c)).update(
                metadata={"is_visually_hidden_from_conversation": v}
            ),
        )

    def cycle(d: list[Any]) -> None:
        first, *_, last = sorted(d[0]["mapping"])
        d[0]["mapping"][first]["parent"] = last

    variant("a cycle of parents", cycle)
    variant(
        "a node that is its own parent",
        lambda d: [n.update(parent=n.get("id")) for n in nodes(d, 0)],
    )
    variant("a parent that does not exist", lambda d: nodes(d, 0)[-1].update(parent="missing"))
    variant(
        "children that do not exist",
        lambda d: [n.update(children=["missing"]) for n in nodes(d, 0)],
    )
    variant(
        "no current node and no root",
        lambda d: (d[0].pop("current_node"), [n.update(parent="x") for n in nodes(d, 0)]),
    )
    variant("a chain of 20,000 messages", lambda d: d.append(_long_chain(20_000)))
    variant(
        "10,000 conversations",
        lambda d: d.extend({"title": f"t{i}", "mapping": {}} for i in range(10_000)),
    )
    variant(
        "a message of 3,000,000 characters",
        lambda d: messages(d, 0)[1].update(content={"parts": ["z" * 3_000_000]}),
    )
    variant("a title of 1,000,000 characters", lambda d: d[0].update(title="T" * 1_000_000))
    variant("an id of 100,000 characters", lambda d: d[0].update(conversation_id="i" * 100_000))
    variant("the same conversation twice", lambda d: d.append(json.loads(json.dumps(d[0]))))
    for label, text in (
        ("empty", b""),
        ("blank", b" \n "),
        ("an object", b'{"conversations": []}'),
        ("null", b"null"),
        ("an empty list", b"[]"),
        ("a list of nothing", b"[,,,]"),
        ("unclosed", b"["),
        ("UTF-16", base.decode().encode("utf-16")),
        ("latin-1", base.decode().encode("latin-1", "replace")),
        ("BOM", b"\xef\xbb\xbf" + base),
        ("NUL bytes", b"[" + b"\0" * 100),
        ("deep", b"[" * DEEP),
        ("deep inside", _deep('["__DEEP__"]').encode()),
        ("invalid UTF-8 mid-file", base.replace(b"Porto", b"P\xff\xferto")),
    ):
        out.append(Case(label, text))
    return out


def _long_chain(n: int) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for i in range(n):
        mapping[f"m{i}"] = {
            "id": f"m{i}",
            "parent": f"m{i - 1}" if i else None,
            "children": [f"m{i + 1}"] if i + 1 < n else [],
            "message": {
                "id": f"m{i}",
                "author": {"role": "user" if i % 2 else "assistant"},
                "content": {"parts": [f"turn {i}"]},
                "create_time": 1.7e9 + i,
            },
        }
    return {
        "title": "long",
        "conversation_id": "long-chain",
        "current_node": f"m{n - 1}",
        "mapping": mapping,
    }


# -- model server responses ----------------------------------------------------------------


def http_response(
    status: bytes = b"200 OK",
    headers: Sequence[tuple[bytes, bytes]] = ((b"Content-Type", b"text/event-stream"),),
    body: bytes = b"",
    *,
    length: bool = True,
) -> bytes:
    head = [b"HTTP/1.1 " + status]
    head += [k + b": " + v for k, v in headers]
    if length:
        head.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def sse_chunk(content: Any) -> bytes:
    return b"data: " + _dumps({"choices": [{"delta": {"content": content}}]}) + b"\n\n"


VALID_STREAM = sse_chunk("Hel") + sse_chunk("lo") + b"data: [DONE]\n\n"
BAD_EVENTS: tuple[bytes, ...] = (
    b"data: {not json\n\n",
    b"data: \n\n",
    b"data: null\n\n",
    b"data: 1\n\n",
    b'data: "x"\n\n',
    b"data: []\n\n",
    b'data: {"choices": null}\n\n',
    b'data: {"choices": {}}\n\n',
    b'data: {"choices": [null]}\n\n',
    b'data: {"choices": [1]}\n\n',
    b'data: {"choices": [[]]}\n\n',
    b'data: {"choices": [{"delta": "x"}]}\n\n',
    b'data: {"choices": [{"delta": []}]}\n\n',
    b'data: {"choices": [{"delta": {"content": 5}}]}\n\n',
    b'data: {"choices": [{"delta": {"content": ["a"]}}]}\n\n',
    b'data: {"choices": [{"delta": {"content": {"a": 1}}}]}\n\n',
    b'data: {"choices": [{"delta": {"content": true}}]}\n\n',
    b'data: {"choices": [{"text": 7}]}\n\n',
    b'data: {"choices": [{"delta": {"content": "\\ud800"}}]}\n\n',
    b'data: {"choices": [{"delta": {"content": "a\\u0000b"}}]}\n\n',
    b'data: {"error": {"message": "overloaded"}}\n\n',
    b"event: ping\n\n",
    b"id: 5\n\n",
    b"retry: 100\n\n",
    b": keep-alive\n\n",
    b"DATA: x\n\n",
    b"data:[DONE]\n\n",
    b"data: [DONE] and more\n\n",
    b"\xff\xfe\xfd\n\n",
    b"data: \xff\xfe\n\n",
    b"data: \x00\n\n",
    b"data: " + b"[" * DEEP + b"\n\n",
    b"data: " + b"{" * DEEP + b"\n\n",
    b'data: {"choices": [{"delta": {"content": "' + b"w" * 2_000_000 + b'"}}]}\n\n',
    b"data: " + b"x" * 1_000_000 + b"\n\n",
    b'data: {"choices": [{"delta": {"content": 1e999}}]}\n\n',
    b'data: {"choices": [{"delta": {"content": NaN}}]}\n\n',
    b"just text\n\n",
    b"\n\n\n\n",
    b"data: {}\n\n",
    b'data: {"choices": []}\n\n',
    b"data",
    b"data: [DONE]",
)
JSON_BODIES: tuple[bytes, ...] = (
    b"",
    b"null",
    b"[]",
    b"{}",
    b'"text"',
    b"12",
    b"{not json",
    b'{"tokens": "abc"}',
    b'{"tokens": 5}',
    b'{"tokens": null}',
    b'{"tokens": {"a": 1}}',
    b'{"tokens": [1, 2, 3]}',
    b'{"default_generation_settings": []}',
    b'{"default_generation_settings": "x"}',
    b'{"default_generation_settings": {"n_ctx": true}}',
    b'{"default_generation_settings": {"n_ctx": -5}}',
    b'{"default_generation_settings": {"n_ctx": 0}}',
    b'{"default_generation_settings": {"n_ctx": 100000000000000000000000000000}}',
    b'{"default_generation_settings": {"n_ctx": 4096.5}}',
    b'{"default_generation_settings": {"n_ctx": "4096"}}',
    b'{"default_generation_settings": {"n_ctx": 1}}',
    b'{"default_generation_settings": {"n_ctx": 2048}}',
    b'{"data": [{"id": "m"}]}',
    b'{"data": 5}',
    b"[" * DEEP,
    b'{"tokens": ' + b"[" * DEEP,
    b"\xff\xfe{}",
    b'{"tokens": [' + b"1," * 300_000 + b"1]}",
    b'{"error": "' + b"e" * 1_000_000 + b'"}',
)
STATUSES = (
    b"100 Continue",
    b"101 Switching Protocols",
    b"199 Odd",
    b"200 OK",
    b"201 Created",
    b"204 No Content",
    b"206 Partial",
    b"301 Moved",
    b"302 Found",
    b"304 Not Modified",
    b"307 Temporary",
    b"400 Bad Request",
    b"401 Unauthorized",
    b"403 Forbidden",
    b"404 Not Found",
    b"408 Timeout",
    b"413 Too Large",
    b"418 Teapot",
    b"429 Too Many",
    b"500 Error",
    b"502 Bad Gateway",
    b"503 Unavailable",
    b"599 Odd",
    b"600 Beyond",
    b"999 Far",
    b"000 Zero",
)


def server_cases(seed: int = 1) -> list[Case]:
    rng = random.Random(seed)
    valid = http_response(body=VALID_STREAM)
    out: list[Case] = [Case("a valid stream", valid)]
    bodies = (
        ("a stream", (b"Content-Type", b"text/event-stream"), VALID_STREAM),
        (
            "an error object",
            (b"Content-Type", b"application/json"),
            b'{"error": {"message": "no"}}',
        ),
        ("nothing", (b"Content-Type", b"text/plain"), b""),
        ("a long error", (b"Content-Type", b"text/plain"), b"e" * 200_000),
    )
    for status in STATUSES:
        for label, header, body in bodies:
            out.append(
                Case(f"{status.decode()} with {label}", http_response(status, (header,), body))
            )
    for i, event in enumerate(BAD_EVENTS):
        for where, stream in (
            ("first", event + VALID_STREAM),
            ("between", sse_chunk("Hel") + event + sse_chunk("lo") + b"data: [DONE]\n\n"),
            ("instead of [DONE]", sse_chunk("Hel") + sse_chunk("lo") + event),
        ):
            out.append(Case(f"bad event {i} {event[:30]!r} {where}", http_response(body=stream)))
    for i, body in enumerate(JSON_BODIES):
        for ctype in (b"application/json", b"text/event-stream"):
            out.append(
                Case(
                    f"JSON body {i} {body[:30]!r} as {ctype.decode()}",
                    http_response(headers=((b"Content-Type", ctype),), body=body),
                )
            )
    framings = {
        "CRLF": VALID_STREAM.replace(b"\n", b"\r\n"),
        "CR": VALID_STREAM.replace(b"\n", b"\r"),
        "no blank lines": VALID_STREAM.replace(b"\n\n", b"\n"),
        "spaces": VALID_STREAM.replace(b"\n", b" "),
        "a BOM first": b"\xef\xbb\xbf" + VALID_STREAM,
    }
    for label, body in framings.items():
        out.append(Case(f"lines separated by {label}", http_response(body=body)))
    for cut in range(0, len(VALID_STREAM), 3):
        out.append(Case(f"stream cut at {cut}", http_response(body=VALID_STREAM[:cut])))
        out.append(
            Case(
                f"stream cut at {cut}, length claims all",
                http_response(
                    headers=(
                        (b"Content-Type", b"text/event-stream"),
                        (b"Content-Length", str(len(VALID_STREAM)).encode()),
                    ),
                    body=VALID_STREAM[:cut],
                    length=False,
                ),
            )
        )
    out += [
        Case("no response at all", b""),
        Case("half a status line", b"HTTP/1.1 2"),
        Case("a status line only", b"HTTP/1.1 200 OK\r\n"),
        Case("HTTP/2 status line", b"HTTP/2 200\r\n\r\n" + VALID_STREAM),
        Case(
            "HTTP/1.0", b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + VALID_STREAM
        ),
        Case(
            "no reason phrase",
            b"HTTP/1.1 200\r\nContent-Type: text/event-stream\r\n\r\n" + VALID_STREAM,
        ),
        Case("status text", b"HTTP/1.1 abc OK\r\n\r\n"),
        Case("not HTTP", b"SSH-2.0-OpenSSH_9.0\r\n"),
        Case(
            "a header without a colon", b"HTTP/1.1 200 OK\r\nBroken header\r\n\r\n" + VALID_STREAM
        ),
        Case(
            "a 100 KB header",
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"h" * 100_000 + b"\r\n\r\n" + VALID_STREAM,
        ),
        Case(
            "10,000 headers",
            b"HTTP/1.1 200 OK\r\n"
            + b"".join(b"X-%d: v\r\n" % i for i in range(10_000))
            + b"\r\n"
            + VALID_STREAM,
        ),
        Case(
            "a negative length",
            http_response(headers=((b"Content-Length", b"-5"),), body=VALID_STREAM, length=False),
        ),
        Case(
            "a length that is text",
            http_response(headers=((b"Content-Length", b"many"),), body=VALID_STREAM, length=False),
        ),
        Case(
            "two lengths",
            http_response(
                headers=((b"Content-Length", b"3"), (b"Content-Length", b"99")),
                body=VALID_STREAM,
                length=False,
            ),
        ),
        Case(
            "a short length",
            http_response(headers=((b"Content-Length", b"10"),), body=VALID_STREAM, length=False),
        ),
        Case(
            "a huge length",
            http_response(
                headers=((b"Content-Length", b"99999999999999999999"),),
                body=VALID_STREAM,
                length=False,
            ),
        ),
        Case(
            "chunked, valid",
            http_response(
                headers=((b"Transfer-Encoding", b"chunked"),),
                body=b"%x\r\n%s\r\n0\r\n\r\n" % (len(VALID_STREAM), VALID_STREAM),
                length=False,
            ),
        ),
        Case(
            "chunked, size not hex",
            http_response(
                headers=((b"Transfer-Encoding", b"chunked"),),
                body=b"zz\r\n" + VALID_STREAM,
                length=False,
            ),
        ),
        Case(
            "chunked, cut",
            http_response(
                headers=((b"Transfer-Encoding", b"chunked"),),
                body=b"ffff\r\n" + VALID_STREAM,
                length=False,
            ),
        ),
        Case(
            "chunked, no end",
            http_response(
                headers=((b"Transfer-Encoding", b"chunked"),),
                body=b"%x\r\n%s\r\n" % (len(VALID_STREAM), VALID_STREAM),
                length=False,
            ),
        ),
        Case(
            "unknown encoding",
            http_response(headers=((b"Content-Encoding", b"gzip"),), body=VALID_STREAM),
        ),
        Case(
            "unknown transfer encoding",
            http_response(
                headers=((b"Transfer-Encoding", b"rot13"),), body=VALID_STREAM, length=False
            ),
        ),
        Case(
            "a body of 8 MB",
            http_response(b"500 Error", ((b"Content-Type", b"text/plain"),), b"E" * 8_000_000),
        ),
        Case(
            "a stream of 20,000 pieces",
            http_response(
                body=b"".join(sse_chunk("a") for _ in range(20_000)) + b"data: [DONE]\n\n"
            ),
        ),
        Case(
            "a charset that does not exist",
            http_response(
                headers=((b"Content-Type", b"text/event-stream; charset=klingon"),),
                body=VALID_STREAM,
            ),
        ),
        Case(
            "latin-1 declared, UTF-8 sent",
            http_response(
                headers=((b"Content-Type", b"text/event-stream; charset=latin-1"),),
                body=sse_chunk("café") + b"data: [DONE]\n\n",
            ),
        ),
    ]
    for i in range(20):
        out.append(Case(f"random bytes #{i}", rng.randbytes(rng.randint(1, 300))))
    rest = max(0, 560 - len(out))
    for i in range(rest):
        out.append(
            Case(f"bytes of a valid response flipped #{i}", _flips(rng, valid, rng.randint(1, 4)))
        )
    return out


class RawServer:
    """A loopback server that answers every request with the same bytes, then hangs up."""

    def __init__(self) -> None:
        self.response = b""
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn, self.response), daemon=True).start()

    @staticmethod
    def _answer(conn: socket.socket, response: bytes) -> None:
        with conn:
            conn.settimeout(5)
            try:
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 1 << 20:
                    got = conn.recv(65536)
                    if not got:
                        return
                    data += got
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                while len(body) < length:
                    got = conn.recv(65536)
                    if not got:
                        break
                    body += got
                conn.sendall(response)
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):  # let the client read everything before the close
                    pass
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)


# -- running ---------------------------------------------------------------------------------


def sample(cases: list[Case], limit: int | None, seed: int) -> list[Case]:
    if limit is None or limit >= len(cases):
        return cases
    return random.Random(seed).sample(cases, limit)


def run_gguf(
    workdir: Path, *, seed: int = 1, limit: int | None = None, llama_sample: int | None = 20
) -> Tally:
    """Open each damaged model the way the app does (header check in ``LlamaCppBackend``),
    then let llama.cpp load (and run) ``llama_sample`` of those that pass it, in a child process."""
    from mneme.assistant.llm.base import ModelLoadError
    from mneme.assistant.llm.local import LlamaCppBackend
    from mneme.assistant.models import model_files
    from tests.gguf_factory import write_tiny_llama

    tally = Tally("gguf")
    workdir.mkdir(parents=True, exist_ok=True)
    good = write_tiny_llama(workdir / "good.gguf")
    base = good.read_bytes()
    cases = sample(
        gguf_cases(base, seed, template_variants=gguf_template_variants(workdir)), limit, seed
    )
    models = workdir / "models"
    models.mkdir(exist_ok=True)
    path = models / "model.gguf"
    passed: list[Case] = []
    for case in cases:
        tally.tried += 1
        path.write_bytes(case.data)
        try:  # what opening a model does first: read_gguf, GGUFError -> ModelLoadError
            LlamaCppBackend(path, context_length=512, threads=1)
        except ModelLoadError as exc:
            if is_sentence(exc):
                tally.clear_error += 1
            else:
                tally.unexpected.append(f"{case.name}: unclear message {str(exc)[:200]!r}")
            continue
        except Exception as exc:
            tally.unexpected.append(f"{case.name}: {_describe(exc)}")
            continue
        passed.append(case)
    path.unlink()
    for i, case in enumerate(cases[:: max(1, len(cases) // 20)]):
        (models / f"damaged-{i}.gguf").write_bytes(case.data)
    try:  # the model list shows every file in the folder, usable or not, with why
        listed = [f for f in model_files(models) if not f.bundled]
        unclear = [f for f in listed if f.info is None and not is_sentence(f.error)]
        if unclear or len(listed) != len(list(models.glob("*.gguf"))):
            tally.unexpected.append(f"the model list shows {unclear[:2] or listed[:2]!r}")
    except Exception as exc:
        tally.unexpected.append(f"the model list fails: {_describe(exc)}")
    tally.notes["passed the header check"] = len(passed)
    chosen = (
        passed
        if llama_sample is None
        else random.Random(seed).sample(passed, min(llama_sample, len(passed)))
    )
    tally.notes["loaded by llama.cpp"] = len(chosen)
    results = load_in_llama(workdir / "llama", [good.read_bytes()] + [c.data for c in chosen])
    if results[0].get("outcome") != "ok":
        tally.unexpected.append(f"the valid model no longer loads: {results[0]}")
    counted = {case.name for case in chosen}
    for case, result in zip(chosen, results[1:], strict=True):
        outcome = result.get("outcome")
        if outcome == "ok":
            tally.accepted += 1
        elif (
            outcome == "error"
            and result.get("type") in ("ModelLoadError", "GenerationError")
            and is_sentence(result.get("message", ""))
        ):
            tally.clear_error += 1
        elif outcome == "crash":
            tally.crashes += 1
            tally.unexpected.append(
                f"{case.name}: llama.cpp crashed the process ({result.get('detail')})"
            )
        else:
            tally.unexpected.append(f"{case.name}: {result}")
    # those that passed the header check but were not loaded count as neither
    tally.notes["passed the header check, not loaded"] = len(
        [c for c in passed if c.name not in counted]
    )
    return tally


_RESULT = "corpus-result: "


def load_in_llama(
    folder: Path, files: Sequence[bytes], timeout: float = 60.0, *, raw: bool = False
) -> list[dict[str, Any]]:
    """Load each file with ``LlamaCppBackend`` and generate two tokens, in a child process
    that is restarted when llama.cpp takes it down. With ``raw``, llama-cpp-python's
    ``Llama`` is given the file directly, without the app's header check."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(files):
        p = folder / f"m{i}.gguf"
        p.write_bytes(data)
        paths.append(p)
    results: list[dict[str, Any]] = []
    pending = list(paths)
    while pending:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.corpus", "llama-worker", *(["raw"] if raw else [])],
            cwd=ROOT,
            env={**os.environ, "GGML_NO_BACKTRACE": "1"},  # no gdb run on an abort
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("".join(f"{p}\n" for p in pending))
        child.stdin.close()
        done = 0
        deadline = time.monotonic() + timeout * len(pending)
        for line in child.stdout:  # llama.cpp writes to stdout too; results are marked
            if not line.startswith(_RESULT):
                continue
            results.append(json.loads(line[len(_RESULT) :]))
            done += 1
            if time.monotonic() > deadline:
                break
        try:
            code = child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        stderr = child.stderr.read() if child.stderr else ""
        pending = pending[done:]
        if pending:  # the child died on pending[0]
            last = stderr.strip().splitlines()[-1][:200] if stderr.strip() else "no message"
            detail = f"exit code {code}: {last}"
            results.append({"outcome": "crash", "detail": detail})
            pending = pending[1:]
    shutil.rmtree(folder, ignore_errors=True)
    return results


def _llama_worker(raw: bool) -> None:
    from mneme.assistant.llm.base import ChatMessage, ModelError, SamplingParams
    from mneme.assistant.llm.local import LlamaCppBackend

    for line in sys.stdin:
        path = line.strip()
        result: dict[str, Any]
        if raw:
            import llama_cpp

            try:
                llama_cpp.Llama(model_path=path, n_ctx=512, n_threads=1, verbose=False).close()
                result = {"outcome": "ok"}
            except Exception as exc:
                result = {"outcome": "error", "type": type(exc).__name__, "message": str(exc)}
            print(_RESULT + json.dumps(result), flush=True)
            continue
        try:
            backend = LlamaCppBackend(path, context_length=512, threads=1, seed=1)
            backend.load()
            try:
                text = "".join(
                    backend.stream_chat(
                        [ChatMessage("user", "hello")], SamplingParams(max_tokens=2, seed=1)
                    )
                )
                backend.count_tokens("hello world")
            finally:
                backend.close()
            result = {"outcome": "ok", "text": text}
        except ModelError as exc:
            result = {"outcome": "error", "type": type(exc).__name__, "message": str(exc)}
        except Exception as exc:
            result = {
                "outcome": "unexpected",
                "type": f"{type(exc).__module__}.{type(exc).__name__}",
                "message": str(exc)[:300],
            }
        print(_RESULT + json.dumps(result), flush=True)


def run_settings(workdir: Path, *, seed: int = 1, limit: int | None = None) -> Tally:
    """Start the assistant's settings path on each file: a file that cannot be used must be
    moved aside whole, with defaults and a warning; a usable one must be left as it was."""
    from mneme.assistant.core import Assistant
    from mneme.assistant.settings import Settings, load, save

    tally = Tally("settings")
    home = workdir / "home"
    config = home / "config"
    for case in sample(settings_cases(seed), limit, seed):
        tally.tried += 1
        shutil.rmtree(config, ignore_errors=True)
        config.mkdir(parents=True)
        path = config / "settings.json"
        path.write_bytes(case.data)
        try:
            assistant = Assistant.from_environment(home)
        except Exception as exc:
            tally.unexpected.append(f"{case.name}: {_describe(exc)}")
            continue
        aside = list(config.glob("settings.json.broken-*"))
        if assistant.warnings:
            problems = []
            if not all(is_sentence(w) for w in assistant.warnings):
                problems.append(f"unclear warning {assistant.warnings[0][:200]!r}")
            if assistant.settings != Settings():
                problems.append("defaults are not in use")
            if path.exists() or len(aside) != 1 or aside[0].read_bytes() != case.data:
                problems.append("the file was not moved aside whole")
            if problems:
                tally.unexpected.append(f"{case.name}: {'; '.join(problems)}")
            else:
                tally.clear_error += 1
            continue
        if aside or not path.exists() or path.read_bytes() != case.data:
            tally.unexpected.append(f"{case.name}: a usable file was changed")
            continue
        try:  # what was accepted must also be what can be saved and read back
            save(assistant.settings, workdir / "resaved.json")
            if load(workdir / "resaved.json").settings != assistant.settings:
                raise ValueError("the saved settings read back differently")
        except Exception as exc:
            tally.unexpected.append(f"{case.name}: accepted but cannot be saved: {_describe(exc)}")
            continue
        tally.accepted += 1
    return tally


def _snapshot(store: Any) -> dict[str, Any]:
    from mneme.memory import ListQuery

    memories = store.browse(ListQuery(limit=100_000)).items
    return {
        "memories": {m.id: asdict(m) for m in memories},
        "history": sorted((m.id, m.version, at, m.text) for m, at in store.all_history()),
        "conversations": {c.id: asdict(c) for c in store.conversations()},
    }


def _consistency(store: Any) -> list[str]:
    """What is wrong with the store as a whole: unfinished writes, indexes that disagree,
    records that cannot be read back, a search that fails."""
    from mneme.memory import ListQuery

    problems = []
    if store._ledger.pending_intents():
        problems.append("a write was left unfinished in the outbox (the next open would replay it)")
    if store._ledger.count() != store._collection.count():
        problems.append(
            f"ledger {store._ledger.count()} vs Chroma {store._collection.count()} memories"
        )
    try:
        ids = [m.id for m in store.browse(ListQuery(limit=100_000)).items]
        store.get_many(ids)
        store.search("hello porto trip", k=5)
        store.conversations()
    except Exception as exc:
        problems.append(f"the store cannot be read: {_describe(exc)}")
    return problems


def _revert(store: Any, baseline: dict[str, Any]) -> None:
    from mneme.memory import ListQuery

    ids = [
        m.id
        for m in store.browse(ListQuery(limit=100_000)).items
        if m.id not in baseline["memories"]
    ]
    if ids:
        store.delete(ids)
    for conversation in store.conversations():
        if conversation.id not in baseline["conversations"]:
            store.delete_conversation(conversation.id, forget=False)


def _baseline_store(folder: Path) -> Any:
    from mneme.memory import Kind, MemoryStore, NewEpisode
    from tests.fakes import HashEmbedder

    store = MemoryStore.open(folder, HashEmbedder())
    turns = store.add_episodes(
        [
            NewEpisode("My cat is called Miso.", "user", "home"),
            NewEpisode("Miso is a lovely name.", "assistant", "home"),
        ]
    )
    fact = store.add_memory(Kind.FACT, "The user has a cat called Miso.", sources=[turns[0].id])
    store.edit(fact.id, "The user has a grey cat called Miso.")
    store.set_conversation_title("home", "Home")
    return store


def _export_base(folder: Path) -> bytes:
    from mneme.memory import Kind, MemoryStore, NewEpisode
    from mneme.memory.export import export_json
    from tests.fakes import HashEmbedder

    with MemoryStore.open(folder, HashEmbedder()) as source:
        turns = source.add_episodes(
            [
                NewEpisode("I'm going to Porto in June.", "user", "trip", said_at=1.7e9),
                NewEpisode(
                    "Stay in Ribeira, by the river.", "assistant", "trip", said_at=1.7e9 + 5
                ),
                NewEpisode(
                    "Book the train early.", "user", "trip", speaker="Ana", said_at=1.7e9 + 9
                ),
            ]
        )
        fact = source.add_memory(
            Kind.FACT, "The user travels to Porto in June.", sources=[turns[0].id], importance=0.7
        )
        source.edit(fact.id, "The user travels to Porto in June with Ana.")
        source.add_memory(
            Kind.SUMMARY,
            "Planning a June trip to Porto.",
            sources=[t.id for t in turns],
            pinned=True,
        )
        source.set_conversation_title("trip", "Porto")
        source.record_access([turns[1].id])
        export_json(source, folder / "export.json")
    return (folder / "export.json").read_bytes()


SKIPPED = "accepted, some records skipped with a reason"


def _run_imports(tally: Tally, workdir: Path, cases: list[Case]) -> None:
    from mneme.assistant.importers import ImportFormatError, import_file
    from mneme.memory import MemoryStore
    from tests.fakes import HashEmbedder

    store = _baseline_store(workdir / "target")
    baseline = _snapshot(store)
    path = workdir / "import.json"
    try:
        for case in cases:
            tally.tried += 1
            path.write_bytes(case.data)
            outcome = ""
            try:
                summary = import_file(store, path)
                bad = [s for s in summary.skipped if not is_sentence(s)]
                outcome = (
                    f"a skipped line is not a sentence: {bad[0][:200]!r}" if bad else "accepted"
                )
                if summary.skipped and not bad:
                    tally.notes[SKIPPED] = tally.notes.get(SKIPPED, 0) + 1
            except ImportFormatError as exc:
                outcome = "clear" if is_sentence(exc) else f"unclear message {str(exc)[:200]!r}"
            except Exception as exc:
                outcome = _describe(exc)
            problems = _consistency(store)
            now = _snapshot(store)
            changed = [i for i, m in baseline["memories"].items() if now["memories"].get(i) != m]
            changed += [
                i for i, c in baseline["conversations"].items() if now["conversations"].get(i) != c
            ]
            if [h for h in baseline["history"] if h not in now["history"]]:
                changed.append("history")
            if changed:
                problems.append(f"existing data changed: {changed[:3]}")
            if outcome == "accepted" and not problems:
                tally.accepted += 1
            elif outcome == "clear" and not problems:
                tally.clear_error += 1
            else:
                tally.unexpected.append(f"{case.name}: {'; '.join([outcome, *problems])}")
            if problems:  # start the next input from a sound store
                store.close()
                shutil.rmtree(workdir / "target")
                store = _baseline_store(workdir / "target")
                baseline = _snapshot(store)
                continue
            _revert(store, baseline)
            if _snapshot(store) != baseline:
                tally.unexpected.append(f"{case.name}: the import could not be cleanly taken back")
        store.close()
        with MemoryStore.open(workdir / "target", HashEmbedder()) as again:  # and it still opens
            if _snapshot(again) != baseline:
                tally.unexpected.append("after reopening, the store differs from what it held")
    finally:
        store.close()


def run_export(workdir: Path, *, seed: int = 1, limit: int | None = None) -> Tally:
    """Import each damaged Mneme export into a store that already holds memories."""
    tally = Tally("export")
    workdir.mkdir(parents=True, exist_ok=True)
    base = _export_base(workdir / "source")
    with contextlib.closing(_baseline_store(workdir / "ids")) as probe:
        existing = sorted(_snapshot(probe)["memories"])
    shutil.rmtree(workdir / "ids")
    cases = export_cases(base, existing, seed)
    _run_imports(tally, workdir, sample(cases, limit, seed))
    return tally


def run_chatgpt(workdir: Path, *, seed: int = 1, limit: int | None = None) -> Tally:
    """Import each damaged ChatGPT export into a store that already holds memories."""
    tally = Tally("chatgpt")
    workdir.mkdir(parents=True, exist_ok=True)
    _run_imports(
        tally, workdir, sample(chatgpt_cases(CHATGPT_FIXTURE.read_bytes(), seed), limit, seed)
    )
    return tally


def run_server(workdir: Path, *, seed: int = 1, limit: int | None = None) -> Tally:
    """Point ``ServerBackend`` at a server answering with each response: connect (``load``),
    count tokens and stream a reply. Only ModelLoadError/GenerationError may escape, and
    counting tokens never fails (it falls back to an estimate)."""
    from mneme.assistant.llm.base import (
        ChatMessage,
        GenerationError,
        ModelLoadError,
        SamplingParams,
    )
    from mneme.assistant.llm.server import ServerBackend

    tally = Tally("server")
    server = RawServer()
    hello = [ChatMessage("user", "Say hello.")]
    try:
        for case in sample(server_cases(seed), limit, seed):
            tally.tried += 1
            server.response = case.data
            errors: list[BaseException] = []
            problem = ""
            backend = ServerBackend(server.url, api_key="k", retries=0, timeout=5.0)
            try:
                for step in ("load", "count", "stream"):
                    try:
                        if step == "load":
                            backend.load()
                            if not 0 < backend.context_length <= 10_000_000:
                                problem = (
                                    f"took an impossible context length {backend.context_length}"
                                )
                        elif step == "count":
                            n = backend.count_tokens("hello world, how are you?")
                            if not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= 40:
                                problem = f"counted {n!r} tokens"
                        else:
                            pieces = list(backend.stream_chat(hello, SamplingParams(max_tokens=8)))
                            if not all(isinstance(p, str) for p in pieces):
                                problem = f"streamed {pieces[:3]!r}"
                    except (ModelLoadError, GenerationError) as exc:
                        errors.append(exc)
                    except Exception as exc:
                        problem = f"{step}: {_describe(exc)}"
                    if problem:
                        break
            finally:
                backend.close()
            if problem:
                tally.unexpected.append(f"{case.name}: {problem}")
            elif any(not is_sentence(e) for e in errors):
                tally.unexpected.append(
                    f"{case.name}: unclear message {[str(e)[:200] for e in errors]}"
                )
            elif errors:
                tally.clear_error += 1
            else:
                tally.accepted += 1
    finally:
        server.close()
    return tally


RUNNERS: dict[str, Callable[..., Tally]] = {
    "gguf": run_gguf,
    "settings": run_settings,
    "export": run_export,
    "chatgpt": run_chatgpt,
    "server": run_server,
}


def generate(kind: str, workdir: Path, seed: int = 1) -> list[Case]:
    """Every input of one kind (for counting them)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if kind == "gguf":
        from tests.gguf_factory import write_tiny_llama

        base = write_tiny_llama(workdir / "good.gguf").read_bytes()
        return gguf_cases(base, seed, template_variants=gguf_template_variants(workdir))
    if kind == "settings":
        return settings_cases(seed)
    if kind == "export":
        return export_cases(_export_base(workdir / "source"), ["x"], seed)
    if kind == "chatgpt":
        return chatgpt_cases(CHATGPT_FIXTURE.read_bytes(), seed)
    return server_cases(seed)


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """The corpus makes the app log warnings by the hundred; keep them off the console."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


if __name__ == "__main__":
    if sys.argv[1:2] == ["llama-worker"]:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        _llama_worker(raw=sys.argv[2:] == ["raw"])
