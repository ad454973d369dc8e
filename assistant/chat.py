"""Replies, end to end: retrieve, build the prompt, stream, remember.

Every operation (:meth:`ChatService.send`, ``regenerate``, ``edit_and_resend``,
``continue_reply``) is a generator of events, so a terminal prints tokens as
they come and a UI worker turns each event into a signal. The user's turn is
written to memory before the model runs, so a crash or a Stop never loses what
the person typed; the reply is written when it ends, also when it was stopped
or the model failed midway (marked as such). Nothing is deleted to redo a
reply: the replaced turns leave the conversation, and their memories stay,
superseded, browsable.

A conversation is what was said (its transcript, :meth:`MemoryStore.transcript`);
the model is given what of it is still remembered: a turn whose memory was
forgotten stays in the conversation if the person chose so, but Mneme does not
use it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from mneme.memory import (
    Author,
    Hit,
    ListQuery,
    Memory,
    MemoryStore,
    NewEpisode,
    SearchFilter,
    State,
    TranscriptTurn,
)

from .actions import action
from .drafts import EVERY_S, ReadBlock, finished_words, with_read
from .errors import InvalidRequestError
from .llm.base import (
    CancelToken,
    ChatMessage,
    GenerationError,
    LLMBackend,
    ReadProgress,
    SamplingParams,
)
from .llm.owner import ModelOwner, Priority
from .memories import evidence
from .prompts import Prompt, PromptBuilder
from .settings import Settings

#: A message longer than this is refused outright (the prompt builder cuts
#: what does not fit the context; this guards memory against absurd pastes).
MAX_MESSAGE_CHARS = 200_000
#: What a memory usually takes in the prompt's memory block (a turn of 25-30 words with
#: its speaker; ``benchmarks.reply --typed`` measures 58-76 tokens a memory shown with
#: neighbours and dates): how many to retrieve to fill the room for memories.
TOKENS_PER_MEMORY = 48
#: Follow-ups shorter than this many words are searched together with the
#: previous user turn ("and her husband?" needs the question before it).
_SHORT_FOLLOW_UP = 6


class EmptyMessageError(InvalidRequestError):
    pass


class MessageTooLongError(InvalidRequestError):
    pass


class NothingToRedoError(InvalidRequestError):
    """Regenerate or continue was asked of a conversation with no reply to redo."""


@dataclass(frozen=True, slots=True)
class Retrieved:
    hits: tuple[Hit, ...]


@dataclass(frozen=True, slots=True)
class PromptReady:
    prompt: Prompt


@dataclass(frozen=True, slots=True)
class MessageFit:
    """Whether a message fits what the model can read, and if not, how much of it does."""

    fits: bool
    read_share: float
    """The share of the message the model reads (1.0 when it fits)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """The model reads a long prompt before it can reply: how far it got (tokens)."""

    done: int
    total: int


@dataclass(frozen=True, slots=True)
class Token:
    text: str


@dataclass(frozen=True, slots=True)
class Reply:
    conversation_id: str
    text: str
    """The whole reply (for a continuation: the earlier part and the new one)."""
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
    error: str | None = None
    """Set when the model failed after part of the reply came; that part is kept."""


@dataclass(frozen=True, slots=True)
class Finished:
    reply: Reply


ChatEvent = Retrieved | PromptReady | Reading | Token | Finished


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


TEMPORARY_PREFIX = "temp-"


def new_temporary_id() -> str:
    """The id of a conversation that is never remembered; any service knows it by its prefix."""
    return f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}"


def title_from(text: str, words: int = 7) -> str:
    """A title by rule: the first words of the first message."""
    parts = text.split()
    title = " ".join(parts[:words])
    if len(parts) > words:
        title += "…"
    return title[:80] or "New conversation"


@dataclass(slots=True)
class _Turn:
    """A turn of a temporary conversation, which lives only in this object."""

    role: str
    text: str


@dataclass(slots=True)
class _Temporary:
    turns: list[_Turn] = field(default_factory=list)


class ChatService:
    """Replies grounded in memory. Temporary conversations never touch memory."""

    def __init__(self, model: LLMBackend, store: MemoryStore | None, settings: Settings) -> None:
        self.model = model if isinstance(model, ModelOwner) else ModelOwner(model)
        self.store = store
        self.settings = settings
        self._temporary: dict[str, _Temporary] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mneme-store-turn")
        self._reading_ahead = CancelToken()
        """The read-ahead under way, if any: a reply, or a newer draft, cancels it."""
        self._read: dict[str, ReadBlock] = {}
        """Per conversation, what was last read ahead."""

    # -- conversations --------------------------------------------------------------

    def turns(self, conversation_id: str) -> list[tuple[str, str]]:
        """(role, text) of the turns the conversation shows, as said (turns no longer
        remembered included: an index into this is an index into the chat shown)."""
        temporary = self._temporary_of(conversation_id)
        if temporary is not None:
            return [(t.role, t.text) for t in temporary.turns]
        if self.store is None:
            return []
        return [(t.role, t.text) for t in self.store.transcript(conversation_id)]

    def history(self, conversation_id: str) -> list[ChatMessage]:
        """The conversation as the model is given it: what is still remembered of it."""
        if self.store is not None and not self.is_temporary(conversation_id):
            turns = self.store.transcript(conversation_id)
            return [ChatMessage(t.role, t.text) for t in turns if t.remembered]
        return [ChatMessage(role, text) for role, text in self.turns(conversation_id)]

    @action
    def start_temporary(self) -> str:
        conversation_id = new_temporary_id()
        self._temporary[conversation_id] = _Temporary()
        return conversation_id

    def _temporary_of(self, conversation_id: str) -> _Temporary | None:
        if not conversation_id.startswith(TEMPORARY_PREFIX):
            return None
        return self._temporary.setdefault(conversation_id, _Temporary())

    def is_temporary(self, conversation_id: str) -> bool:
        return conversation_id.startswith(TEMPORARY_PREFIX)

    @action
    def end_temporary(self, conversation_id: str) -> None:
        self._temporary.pop(conversation_id, None)

    # -- the operations -------------------------------------------------------------

    @action
    def send(
        self, conversation_id: str, text: str, *, cancel: CancelToken | None = None
    ) -> Iterator[ChatEvent]:
        check_message(text)
        return self._respond(conversation_id, new_user_text=text, cancel=cancel)

    @action
    def regenerate(
        self, conversation_id: str, *, cancel: CancelToken | None = None
    ) -> Iterator[ChatEvent]:
        """A new reply to the last message; the old reply is kept, superseded."""
        turns = self.turns(conversation_id)
        if not turns or turns[-1][0] != "assistant":
            raise NothingToRedoError("there is no reply to regenerate")
        self._retire_from(conversation_id, len(turns) - 1)
        return self._respond(conversation_id, cancel=cancel)

    @action
    def edit_and_resend(
        self,
        conversation_id: str,
        index: int,
        new_text: str,
        *,
        cancel: CancelToken | None = None,
    ) -> Iterator[ChatEvent]:
        """Change the user turn at ``index`` (its earlier text kept in its history) and
        reply again; the turns after it are kept, superseded."""
        check_message(new_text)
        turns = self.turns(conversation_id)
        if not 0 <= index < len(turns) or turns[index][0] != "user":
            raise NothingToRedoError("only one of your own messages can be edited")
        temporary = self._temporary_of(conversation_id)
        said = (
            self.store.transcript(conversation_id)[index]
            if temporary is None and self.store
            else None
        )
        if said is not None and not said.remembered:
            raise NothingToRedoError(
                "this message was forgotten; write a new one instead of editing it"
            )
        self._retire_from(conversation_id, index + 1)
        if temporary is not None:
            temporary.turns[index].text = new_text
        elif self.store is not None and said is not None:
            self.store.change_words(said.id, new_text, author=Author.USER)
        return self._respond(conversation_id, cancel=cancel)

    @action
    def continue_reply(
        self, conversation_id: str, *, cancel: CancelToken | None = None
    ) -> Iterator[ChatEvent]:
        """Carry the last reply on from where it stopped."""
        turns = self.turns(conversation_id)
        if not turns or turns[-1][0] != "assistant":
            raise NothingToRedoError("there is no reply to continue")
        return self._respond(conversation_id, cancel=cancel, continue_last=True)

    def _retire_from(self, conversation_id: str, index: int) -> None:
        temporary = self._temporary_of(conversation_id)
        if temporary is not None:
            del temporary.turns[index:]
            return
        if self.store is None:
            return
        replaced = [t.id for t in self.store.transcript(conversation_id)[index:]]
        if replaced:
            self.store.replace_turns(replaced)

    def fit(self, text: str) -> MessageFit:
        """Whether ``text`` fits the model's context with the system prompt and the
        reply's room (memories and history give way to it; a message that does not fit
        is cut, with a notice): what a frontend says when it is pasted, not after."""
        builder = self._builder()
        system = builder.system_message(self.settings.chat.system_prompt)
        count = self.model.count_messages
        if count([ChatMessage("system", system), ChatMessage("user", text)]) <= builder.limit:
            return MessageFit(True, 1.0)
        room = builder.limit - count([ChatMessage("system", system)])
        return MessageFit(False, max(0.0, min(1.0, room / max(1, self.model.count_tokens(text)))))

    def _builder(self) -> PromptBuilder:
        return PromptBuilder(
            self.model,
            reply_tokens=self.settings.generation.max_tokens,
            memory_fraction=self.settings.memory.budget_fraction,
            max_history_turns=self.settings.chat.history_turns,
        )

    # -- making a reply -------------------------------------------------------------

    def sampling(self) -> SamplingParams:
        g = self.settings.generation
        return SamplingParams(
            max_tokens=g.max_tokens,
            temperature=g.temperature,
            top_p=g.top_p,
            top_k=g.top_k,
            min_p=g.min_p,
            repeat_penalty=g.repeat_penalty,
            seed=self.settings.model.seed,
        )

    def _remembers(self, conversation_id: str) -> MemoryStore | None:
        if self.is_temporary(conversation_id) or not self.settings.memory.enabled:
            return None
        return self.store

    def retrieve(self, query: str, exclude: Sequence[str] = ()) -> list[Hit]:
        """The memories that may ground a reply to ``query``: relevant ones only, the
        person's own questions not taken as evidence (see :func:`memories.evidence`)."""
        # as many as the room for memories could show, at most memory.top_k
        room = self._builder().memory_budget // TOKENS_PER_MEMORY
        k = min(self.settings.memory.top_k, max(1, room))
        if self.store is None or not self.settings.memory.enabled or k == 0:
            return []
        return evidence(self.store.search(query, k=k, filters=SearchFilter(), exclude=exclude))

    def _pinned(self, store: MemoryStore) -> list[Memory]:
        return list(
            store.browse(ListQuery(pinned_only=True, states=(State.ACTIVE,), limit=50)).items
        )

    def _said(
        self, store: MemoryStore | None, conversation_id: str
    ) -> tuple[list[TranscriptTurn], list[ChatMessage]]:
        """What is still remembered of a conversation, as it was said, and as the model
        is given it."""
        if store is None:
            return [], self.history(conversation_id)
        recent = [t for t in store.transcript(conversation_id) if t.remembered]
        return recent, [ChatMessage(t.role, t.text) for t in recent]

    def _recall(
        self,
        store: MemoryStore | None,
        message: str,
        history: Sequence[ChatMessage],
        recent: Sequence[TranscriptTurn],
    ) -> list[Hit]:
        if store is None:
            return []
        query = message
        if len(message.split()) < _SHORT_FOLLOW_UP:
            previous = [m.content for m in history if m.role == "user"][-1:]
            query = " ".join([*previous, message])
        return self.retrieve(query, exclude=[m.id for m in recent])

    def _prompt(
        self,
        store: MemoryStore | None,
        message: str,
        hits: Sequence[Hit],
        history: Sequence[ChatMessage],
        continued: ChatMessage | None = None,
        read_ahead: Sequence[str] = (),
        unread_tokens: int | None = None,
    ) -> Prompt:
        return self._builder().build(
            read_ahead=read_ahead,
            unread_tokens=unread_tokens,
            system_prompt=self.settings.chat.system_prompt,
            message=message,
            memories=hits,
            pinned=self._pinned(store) if store is not None else (),
            history=history,
            previous_turn=(lambda m: store.neighbour(m, -1)) if store is not None else None,
            unfinished_reply=continued.content if continued is not None else None,
        )

    @action
    def prompt_for(self, conversation_id: str, text: str) -> Prompt:
        """The prompt a send of ``text`` would give the model now, made as a send makes it
        (nothing is read, stored or changed): what the model would see, and what
        ``benchmarks.locomo`` scores as prompt recall."""
        check_message(text)
        store = self._remembers(conversation_id)
        recent, history = self._said(store, conversation_id)
        return self._ground(store, conversation_id, text, history, recent, new=True)[1]

    def read_ahead(self, conversation_id: str, draft: str) -> int:
        """While a message is being written: read into the model's cache what a reply to
        ``draft`` would read (system prompt, pinned notes, history, the memories the
        draft recalls, the draft), so that on send little is left to read but what
        changed. Only while the model is idle; a reply, or anything else that needs the
        model, stops it at once. Returns the tokens read (0 if it did not run)."""
        if not draft.strip():
            return 0
        cancel = CancelToken()
        self._reading_ahead.cancel()
        self._reading_ahead = cancel
        store = self._remembers(conversation_id)
        recent, history = self._said(store, conversation_id)
        words = finished_words(draft)
        # two words recall noise ("What are"); the system prompt and history are read anyway
        found = self._recall(store, words, history, recent) if len(words.split()) > 2 else []
        before = self._read_ahead(conversation_id)
        hits = with_read(store, found, before)  # what is read stays, in front
        # each draft adds what can be read before the next one is due (EVERY_S): a read
        # soon done, and not thrown away by the next draft's new memories
        prompt = self._prompt(
            store,
            draft,
            hits,
            history,
            read_ahead=before.shown,
            unread_tokens=self._unread_tokens(EVERY_S),
        )
        if cancel.cancelled:
            return 0
        # until this read is whole, the cache holds what the block shares with the last one
        self._read[conversation_id] = replace(before.until(prompt.shown), turns=self.model.turns)
        read = self.model.read_ahead(prompt.messages, cancel=cancel)
        if read.whole:
            self._read[conversation_id] = ReadBlock(prompt.shown, prompt.memories, self.model.turns)
        return read.tokens

    def _read_ahead(self, conversation_id: str, *, take: bool = False) -> ReadBlock:
        """What was read ahead for this conversation's next message and is still in the
        model's cache (``take``: for the message being sent, so forgotten here)."""
        found = self._read.pop(conversation_id, None) if take else self._read.get(conversation_id)
        return found if found is not None and found.turns == self.model.turns else ReadBlock()

    def _ground(
        self,
        store: MemoryStore | None,
        conversation_id: str,
        message: str,
        history: Sequence[ChatMessage],
        recent: Sequence[TranscriptTurn],
        *,
        new: bool,
        take: bool = False,
        continued: ChatMessage | None = None,
    ) -> tuple[list[Hit], Prompt]:
        """The memories for a reply to ``message`` and its prompt. A new message gets what
        was read ahead for it (``take``: used up here) and waits for the rest at most
        ``memory.max_delay_s``; a redo is asked for on a prompt the model has just read."""
        read = self._read_ahead(conversation_id, take=take) if new else ReadBlock()
        hits = with_read(store, self._recall(store, message, history, recent), read)
        prompt = self._prompt(
            store,
            message,
            hits,
            history,
            continued,
            read_ahead=read.shown,
            unread_tokens=self._unread_tokens() if new else None,
        )
        return hits, prompt

    def _unread_tokens(self, seconds: float | None = None) -> int | None:
        """How many tokens of memories not read yet the model may read in ``seconds``
        (by default what a reply may wait: ``memory.max_delay_s``)."""
        speed = self.model.reading_speed
        wait = self.settings.memory.max_delay_s if seconds is None else seconds
        return None if speed is None else int(wait * speed)

    def _respond(
        self,
        conversation_id: str,
        *,
        new_user_text: str | None = None,
        cancel: CancelToken | None = None,
        continue_last: bool = False,
    ) -> Iterator[ChatEvent]:
        started = time.perf_counter()
        self._reading_ahead.cancel()  # a reply takes the model anyway: stop at once
        store = self._remembers(conversation_id)
        temporary = self._temporary_of(conversation_id)
        recent, history = self._said(store, conversation_id)
        continued: ChatMessage | None = None
        if new_user_text is not None:
            message = new_user_text
        else:  # regenerate, continue, edit: answer the last user turn again
            users = [i for i, m in enumerate(history) if m.role == "user"]
            if not users:
                raise NothingToRedoError("there is no message to reply to")
            cut = users[-1]
            message = history[cut].content
            if continue_last and len(history) > cut + 1:
                continued = history[-1]
            history = history[:cut]
        earlier_part = continued.content if continued is not None else ""

        hits, prompt = self._ground(
            store,
            conversation_id,
            message,
            history,
            recent,
            new=new_user_text is not None,
            take=True,
            continued=continued,
        )
        yield Retrieved(tuple(hits))
        yield PromptReady(prompt)

        user_write: Future[Memory] | None = None
        if new_user_text is not None:
            if store is not None:
                # Stored while the model reads the prompt: embedding and indexing the
                # turn would otherwise add ~30 ms to every first token.
                user_write = self._writer.submit(
                    self._store_user_turn, store, conversation_id, new_user_text
                )
            elif temporary is not None:
                temporary.turns.append(_Turn("user", new_user_text))

        pieces: list[str] = []
        first: float | None = None
        error: str | None = None
        try:
            for piece in self.model.reply(
                prompt.messages, self.sampling(), cancel=cancel, continue_last=continue_last
            ):
                if isinstance(piece, ReadProgress):
                    yield Reading(piece.done, piece.total)  # a long prompt: how far read
                    continue
                if first is None:
                    first = time.perf_counter() - started
                pieces.append(piece)
                yield Token(piece)
        except GenerationError as exc:
            if user_write is not None:
                user_write.result()
            if not pieces:
                raise
            error = str(exc)
        finally:
            if user_write is not None:
                user_write.exception()  # waits; the error, if any, is raised just below
        user_memory = user_write.result() if user_write is not None else None
        stopped = cancel is not None and cancel.cancelled
        new_text = "".join(pieces)
        reply_text = (earlier_part + new_text).strip() if continue_last else new_text.strip()

        assistant_memory: Memory | None = None
        if new_text.strip():
            if store is not None:
                if continue_last and recent and recent[-1].role == "assistant":
                    assistant_memory = store.change_words(
                        recent[-1].id, reply_text, author=Author.CHAT
                    )
                else:
                    assistant_memory = store.add_episode(
                        NewEpisode(reply_text, "assistant", conversation_id)
                    )
                store.record_use(assistant_memory.id, prompt.memories)
                store.record_access([h.memory.id for h in prompt.memories])
            elif temporary is not None:
                if continue_last and temporary.turns and temporary.turns[-1].role == "assistant":
                    temporary.turns[-1].text = reply_text
                else:
                    temporary.turns.append(_Turn("assistant", reply_text))
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
                error=error,
            )
        )

    @staticmethod
    def _store_user_turn(store: MemoryStore, conversation_id: str, text: str) -> Memory:
        if store.get_conversation(conversation_id) is None:
            store.set_conversation_title(conversation_id, title_from(text))
        return store.add_episode(NewEpisode(text, "user", conversation_id))

    # -- titles ---------------------------------------------------------------------

    def suggest_title(
        self, conversation_id: str, *, cancel: CancelToken | None = None
    ) -> str | None:
        """A short title written by the model from the first exchange, if it is free.

        Runs at background priority: a person's message takes the model first,
        and then the rule title (the first words) simply stays.
        """
        turns = self.turns(conversation_id)[:2]
        if len(turns) < 2 or self.store is None or self.is_temporary(conversation_id):
            return None
        exchange = "\n".join(f"{role}: {text[:500]}" for role, text in turns)
        messages = [
            ChatMessage("system", "You write short titles for conversations."),
            ChatMessage(
                "user",
                f"Write a title of 2 to 6 words for this conversation. "
                f"Answer with the title only.\n\n{exchange}",
            ),
        ]
        params = SamplingParams(max_tokens=16, temperature=0.2, seed=self.settings.model.seed)
        try:
            raw = "".join(
                self.model.stream_chat(
                    messages, params, cancel=cancel, priority=Priority.BACKGROUND
                )
            )
        except GenerationError:
            return None
        title = re.sub(r"\s+", " ", raw.strip().splitlines()[0] if raw.strip() else "")
        title = title.strip(" \"'*#:.").removeprefix("Title").strip(" :\"'")[:80]
        if len(title) < 2:
            return None
        self.store.set_conversation_title(conversation_id, title)
        return title
