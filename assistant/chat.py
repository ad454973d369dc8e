"""One reply, end to end: retrieve, build the prompt, stream, remember.

:meth:`ChatService.send` is a generator of events, so a terminal prints tokens
as they come and a UI worker turns each event into a signal; neither needs to
know how the reply is made. The user's turn is written to memory before the
model runs, so a crash or a Stop never loses what the person typed; the reply
is written when it ends, also when it was stopped (marked as such).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from memory import Hit, Memory, MemoryStore, NewEpisode, SearchFilter

from .llm.base import CancelToken, ChatMessage, LLMBackend, SamplingParams
from .prompts import Prompt, PromptBuilder
from .settings import Settings

#: A message longer than this is refused outright (the prompt builder cuts
#: what does not fit the context; this guards memory against absurd pastes).
MAX_MESSAGE_CHARS = 200_000


class EmptyMessageError(ValueError):
    pass


class MessageTooLongError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Retrieved:
    hits: tuple[Hit, ...]


@dataclass(frozen=True, slots=True)
class PromptReady:
    prompt: Prompt


@dataclass(frozen=True, slots=True)
class Token:
    text: str


@dataclass(frozen=True, slots=True)
class Reply:
    conversation_id: str
    text: str
    stopped: bool
    used: tuple[Hit, ...]
    """Memories that were in the prompt."""
    user_memory: Memory | None
    assistant_memory: Memory | None
    prompt_tokens: int
    pieces: int
    first_token_s: float | None
    total_s: float
    message_truncated: bool = False


@dataclass(frozen=True, slots=True)
class Finished:
    reply: Reply


ChatEvent = Retrieved | PromptReady | Token | Finished


def check_message(text: str) -> None:
    """Refuse what must not be sent, before anything is loaded or stored."""
    if not text.strip():
        raise EmptyMessageError("an empty message is not sent")
    if len(text) > MAX_MESSAGE_CHARS:
        raise MessageTooLongError(
            f"the message has {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}"
        )


def new_conversation_id() -> str:
    return f"conv-{uuid.uuid4().hex}"


def title_from(text: str, words: int = 7) -> str:
    """A title by rule: the first words of the first message."""
    parts = text.split()
    title = " ".join(parts[:words])
    if len(parts) > words:
        title += "…"
    return title[:80] or "New conversation"


@dataclass(slots=True)
class _TemporaryConversation:
    turns: list[ChatMessage] = field(default_factory=list)


class ChatService:
    """Replies grounded in memory. Temporary conversations never touch memory."""

    def __init__(self, backend: LLMBackend, store: MemoryStore | None, settings: Settings) -> None:
        self.backend = backend
        self.store = store
        self.settings = settings
        self._temporary: dict[str, _TemporaryConversation] = {}

    # -- conversations ------------------------------------------------------------

    def history(self, conversation_id: str) -> list[ChatMessage]:
        if conversation_id in self._temporary:
            return list(self._temporary[conversation_id].turns)
        if self.store is None:
            return []
        return [
            ChatMessage(m.role or "user", m.text) for m in self.store.conversation(conversation_id)
        ]

    def start_temporary(self) -> str:
        conversation_id = f"temp-{uuid.uuid4().hex}"
        self._temporary[conversation_id] = _TemporaryConversation()
        return conversation_id

    def is_temporary(self, conversation_id: str) -> bool:
        return conversation_id in self._temporary

    def end_temporary(self, conversation_id: str) -> None:
        self._temporary.pop(conversation_id, None)

    # -- replying -----------------------------------------------------------------

    def sampling(self) -> SamplingParams:
        m = self.settings.model
        return SamplingParams(
            max_tokens=m.max_tokens,
            temperature=m.temperature,
            top_p=m.top_p,
            top_k=m.top_k,
            min_p=m.min_p,
            repeat_penalty=m.repeat_penalty,
            seed=m.seed,
        )

    def retrieve(self, text: str, exclude: Sequence[str] = ()) -> list[Hit]:
        k = self.settings.memory.top_k
        if self.store is None or not self.settings.memory.enabled or k == 0:
            return []
        return self.store.search(text, k=k, filters=SearchFilter(), exclude=exclude)

    def send(
        self, conversation_id: str, text: str, *, cancel: CancelToken | None = None
    ) -> Iterator[ChatEvent]:
        check_message(text)
        started = time.perf_counter()
        temporary = self._temporary.get(conversation_id)
        remember = temporary is None and self.store is not None

        history = self.history(conversation_id)
        if remember:
            assert self.store is not None
            recent = self.store.conversation(conversation_id)
            hits = self.retrieve(text, exclude=[m.id for m in recent])
        else:
            hits = []
        yield Retrieved(tuple(hits))

        builder = PromptBuilder(
            self.backend,
            reply_tokens=self.settings.model.max_tokens,
            memory_fraction=self.settings.memory.budget_fraction,
        )
        keep = self.settings.chat.history_turns
        store = self.store if remember else None
        prompt = builder.build(
            system_prompt=self.settings.chat.system_prompt,
            message=text,
            memories=hits,
            history=history[-keep:] if keep else [],
            previous_turn=(lambda m: store.neighbour(m, -1)) if store is not None else None,
        )
        if store is not None and prompt.memories:
            store.record_access([h.memory.id for h in prompt.memories])
        yield PromptReady(prompt)

        user_memory: Memory | None = None
        if remember:
            assert self.store is not None
            if self.store.get_conversation(conversation_id) is None:
                self.store.set_conversation_title(conversation_id, title_from(text))
            user_memory = self.store.add_episode(NewEpisode(text, "user", conversation_id))
        elif temporary is not None:
            temporary.turns.append(ChatMessage("user", text))

        pieces: list[str] = []
        first: float | None = None
        for piece in self.backend.stream_chat(prompt.messages, self.sampling(), cancel=cancel):
            if first is None:
                first = time.perf_counter() - started
            pieces.append(piece)
            yield Token(piece)
        stopped = cancel is not None and cancel.cancelled
        reply_text = "".join(pieces).strip()

        assistant_memory: Memory | None = None
        if reply_text:
            if remember:
                assert self.store is not None
                assistant_memory = self.store.add_episode(
                    NewEpisode(reply_text, "assistant", conversation_id)
                )
            elif temporary is not None:
                temporary.turns.append(ChatMessage("assistant", reply_text))
        yield Finished(
            Reply(
                conversation_id=conversation_id,
                text=reply_text,
                stopped=stopped,
                used=prompt.memories,
                user_memory=user_memory,
                assistant_memory=assistant_memory,
                prompt_tokens=prompt.tokens,
                pieces=len(pieces),
                first_token_s=first,
                total_s=time.perf_counter() - started,
                message_truncated=prompt.message_truncated,
            )
        )
