"""Chat templates: turning messages into the exact text a model was trained on.

The GGUF's own template (``tokenizer.chat_template``) is always preferred.
Files without one get the template of their family, recognised by the
special tokens in their vocabulary, with a warning: a wrong template makes
a good model look broken.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Messages = Sequence[dict[str, str]]


@dataclass(frozen=True)
class ChatTemplate:
    family: str
    render_fn: Callable[[Messages, bool], str]
    stops: tuple[str, ...]
    add_bos: bool
    """Whether tokenizing the rendered text should add the model's BOS token."""
    from_model: bool

    def render(self, messages: Messages, *, generation_prompt: bool = True) -> str:
        return self.render_fn(messages, generation_prompt)

    def render_continuation(self, messages: Messages) -> str:
        """The prompt that makes the model carry on the last (assistant) message."""
        partial = messages[-1]["content"]
        closed = self.render(messages, generation_prompt=False)
        at = closed.rfind(partial) if partial else -1
        if at >= 0:
            return closed[: at + len(partial)]
        # the template rewrote the text (trimmed it, say): open a reply and prefill it
        return self.render(messages[:-1]) + partial


def _simple(
    family: str, start: Callable[[str], str], end: str, generation: str, stops: Sequence[str]
) -> ChatTemplate:
    def render(messages: Messages, generation_prompt: bool) -> str:
        text = "".join(start(m["role"]) + m["content"] + end for m in messages)
        return text + (generation if generation_prompt else "")

    return ChatTemplate(family, render, tuple(stops), add_bos=True, from_model=False)


def _llama2(messages: Messages, generation_prompt: bool) -> str:
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    out = ""
    pending_system = f"<<SYS>>\n{system}\n<</SYS>>\n\n" if system else ""
    for m in messages:
        if m["role"] == "user":
            out += f"[INST] {pending_system}{m['content']} [/INST]"
            pending_system = ""
        elif m["role"] == "assistant":
            out += f" {m['content']} </s>"
    return out


FALLBACKS: dict[str, ChatTemplate] = {
    "chatml": _simple(
        "chatml",
        lambda r: f"<|im_start|>{r}\n",
        "<|im_end|>\n",
        "<|im_start|>assistant\n",
        ["<|im_end|>"],
    ),
    "llama3": _simple(
        "llama3",
        lambda r: f"<|start_header_id|>{r}<|end_header_id|>\n\n",
        "<|eot_id|>",
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        ["<|eot_id|>"],
    ),
    "gemma": _simple(
        "gemma",
        lambda r: f"<start_of_turn>{'model' if r == 'assistant' else 'user'}\n",
        "<end_of_turn>\n",
        "<start_of_turn>model\n",
        ["<end_of_turn>"],
    ),
    "phi3": _simple(
        "phi3",
        lambda r: f"<|{r}|>\n",
        "<|end|>\n",
        "<|assistant|>\n",
        ["<|end|>"],
    ),
    "llama2": ChatTemplate("llama2", _llama2, ("</s>",), add_bos=True, from_model=False),
}

# Marker tokens that identify a family, checked in this order.
_MARKERS = (
    ("llama3", "<|start_header_id|>"),
    ("chatml", "<|im_start|>"),
    ("gemma", "<start_of_turn>"),
    ("phi3", "<|assistant|>"),
    ("llama2", "[INST]"),
)


def guess_family(is_special_token: Callable[[str], bool]) -> str:
    """The family whose marker is a single special token of this vocabulary."""
    for family, marker in _MARKERS:
        if is_special_token(marker):
            return family
    return "chatml"


PROBE: Messages = (
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Hello."},
    {"role": "assistant", "content": "Hi."},
    {"role": "user", "content": "How are you?"},
)
"""The shape of every prompt Mneme sends; a model's template must render it to be used."""


def from_jinja(template: str, eos: str, bos: str) -> ChatTemplate:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    with_prompt = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    without = Jinja2ChatFormatter(
        template=template, eos_token=eos, bos_token=bos, add_generation_prompt=False
    )

    def render(messages: Messages, generation_prompt: bool) -> str:
        formatter = with_prompt if generation_prompt else without
        return str(formatter(messages=list(messages)).prompt)  # type: ignore[arg-type]

    return ChatTemplate("gguf", render, (eos,) if eos else (), add_bos=False, from_model=True)
