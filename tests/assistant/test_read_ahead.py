"""Reading ahead while a message is typed: the pace (pure), and on the real model that it
spares the reply the reading, never changes the reply, and gives way to it at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from mneme.assistant.chat import ChatService, PromptReady
from mneme.assistant.drafts import DraftPacer, finished_words
from mneme.assistant.llm import ChatMessage
from mneme.assistant.llm.local import LlamaCppBackend
from mneme.assistant.llm.owner import ModelOwner
from mneme.assistant.prompts import price
from mneme.memory import Kind, ListQuery, MemoryStore, NewEpisode
from tests.assistant.test_chat import run, settings

MESSAGE = "Which city did my sister move to, and what does she love there?"


def test_it_reads_ahead_after_a_pause_or_now_and_then_while_typing() -> None:
    pacer = DraftPacer(pause_s=0.35, every_s=1.5)
    assert not pacer.due(0.0) and not pacer.pending
    pacer.changed(10.0)
    assert not pacer.due(10.2) and pacer.due(10.4)  # a pause
    pacer.started()
    assert not pacer.due(99.0)  # nothing new typed since
    for i in range(8):  # steady typing, a key every 0.2 s
        pacer.changed(20.0 + 0.2 * i)
        assert pacer.due(20.0 + 0.2 * i) is (0.2 * i >= 1.5)
    pacer.sent()
    assert not pacer.pending and not pacer.due(30.0)


def _remembering(store: MemoryStore) -> MemoryStore:
    store.add_memory(Kind.FACT, "The user's sister Ana moved to Lisbon in March.")
    store.add_memory(Kind.FACT, "Ana loves the old yellow trams of Lisbon.")
    store.add_memory(Kind.FACT, "The user plays the cello on Thursdays.")
    return store


def test_a_reply_after_reading_ahead_reads_only_what_changed_and_is_the_same(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    """The reply is the one the same prompt gets from an empty cache, with the same seed."""
    _remembering(store)
    chat = ChatService(ModelOwner(smollm), store, settings())
    smollm.forget_cache()
    draft = MESSAGE[: -len("there?")]  # a word more was typed after the last read-ahead
    assert chat.read_ahead("c", draft) > 0
    reply, ready, _ = run(chat, "c", MESSAGE)
    prompt = ready.prompt
    assert len(prompt.shown) == 2  # the two about Ana (the cello is not relevant)
    left = prompt.tokens - smollm.cached_at_start
    assert left <= smollm.count_tokens("there?") + 12  # the last word, the reply's header
    smollm.forget_cache()
    cold = "".join(smollm.stream_chat(prompt.messages, chat.sampling())).strip()
    assert smollm.cached_at_start == 0 and reply.text == cold


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not condition():
            assert not done.wait(0.005), "timed out"
    finally:
        deadline.cancel()


def test_a_message_sent_during_a_read_ahead_takes_the_model_at_once(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    owner = ModelOwner(smollm)
    chat = ChatService(owner, store, settings())
    long_turn = " ".join(
        f"On day {i} I walked the dog along the river and fed the ducks." for i in range(8)
    )
    store.add_episodes(
        [
            NewEpisode(long_turn if i % 2 == 0 else "Noted.", ("user", "assistant")[i % 2], "c")
            for i in range(12)
        ]
    )
    smollm.forget_cache()
    read: list[int] = []
    ahead = threading.Thread(target=lambda: read.append(chat.read_ahead("c", "What did I")))
    ahead.start()
    _wait_for(lambda: owner.busy)  # reading has begun
    _, prompt, tokens = run(chat, "c", "What did I feed the ducks?")
    ahead.join(timeout=60)
    assert not ahead.is_alive() and tokens
    assert read[0] < prompt.prompt.tokens - 200  # it stopped long before the end


def test_a_half_typed_word_is_not_searched_for() -> None:
    assert finished_words("Where do I grow my tomat") == "Where do I grow my"
    assert finished_words("Where do I grow my tomatoes?") == "Where do I grow my tomatoes?"
    assert finished_words("Where do I ") == "Where do I "
    assert finished_words("Tomat") == "Tomat"  # one word: better than nothing


def test_memories_not_read_ahead_hold_a_reply_up_at_most_the_set_delay(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    """At 100 tokens a second and 0.3 s allowed, one memory more than was read ahead fits;
    what was read ahead is free, unless the model was used for something else since."""
    _remembering(store)
    about_ana = {m.id for m in store.browse(ListQuery(limit=10)).items if "Ana" in m.text}

    def ana_in(ready: PromptReady) -> int:
        return len(about_ana & set(ready.prompt.shown))

    owner = ModelOwner(smollm, reading_speed=100.0)
    slow = settings()
    slow.memory.max_delay_s = 0.3
    chat = ChatService(owner, store, slow)

    def send(conversation: str) -> PromptReady:
        _, ready, _ = run(chat, conversation, MESSAGE)
        store.delete_conversation(conversation, forget=True)  # not recalled by the next
        return ready

    sent_at_once = send("a")
    assert len(sent_at_once.prompt.shown) == 1 and ana_in(sent_at_once) == 1
    assert chat.read_ahead("b", MESSAGE) > 0
    assert ana_in(send("b")) == 2
    chat.read_ahead("c", MESSAGE)  # (all in the cache already: the same prompt as b's)
    for _ in owner.stream_chat([ChatMessage("user", "Hi")], chat.sampling()):
        pass  # e.g. a title, between the read-ahead and the send: the cache is gone
    assert len(send("c").prompt.shown) == 1
    slow.memory.max_delay_s = 0.0
    nothing = send("d")
    assert nothing.prompt.shown == () and nothing.prompt.memory_block is None
    assert chat.read_ahead("e", MESSAGE[: -len("there?")]) > 0  # typed, then one word more
    assert ana_in(send("e")) == 2  # the draft recalled both: no wait for them


def test_how_fast_the_model_reads_is_measured_as_it_reads(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    owner = ModelOwner(smollm)
    assert owner.reading_speed is None  # not measured yet: no cap on memories
    chat = ChatService(owner, _remembering(store), settings())
    smollm.forget_cache()
    assert chat.read_ahead("c", MESSAGE) >= ModelOwner.MIN_SAMPLE_TOKENS
    speed = owner.reading_speed
    assert speed is not None and 10 < speed < 100_000


def test_what_was_read_ahead_stays_when_the_last_words_change_the_search(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    """The memory the draft recalled is kept in front (the model has read it), the one the
    last words recall comes after it; one forgotten while typing is not shown."""
    _remembering(store)
    one = settings()
    one.memory.top_k = 1
    chat = ChatService(ModelOwner(smollm), store, one)
    draft = "My cello lesson? No, never mind. "
    message = draft + "Where did my sister Ana move in March, and does she love the trams?"
    [drafted], [final] = chat.retrieve(draft), chat.retrieve(message)
    assert drafted.memory.id != final.memory.id  # the last words changed the search
    assert chat.read_ahead("c", draft) > 0
    _, ready, _ = run(chat, "c", message)
    assert ready.prompt.shown == (drafted.memory.id, final.memory.id)
    assert smollm.cached_at_start > ready.prompt.tokens - smollm.count_tokens(message) - 40
    store.delete_conversation("c", forget=True)  # (not to be recalled next)
    assert chat.read_ahead("d", draft) > 0
    store.forget([drafted.memory.id])
    _, ready, _ = run(chat, "d", message)
    assert ready.prompt.shown == (final.memory.id,)


def test_each_draft_reads_only_what_fits_before_the_next_and_keeps_the_last(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    """At 40 tokens a second a draft adds about 60 tokens of memories (EVERY_S = 1.5 s); the
    next draft keeps them in front and adds more."""
    for plant in "tomatoes basil peppers beans peas lettuce carrots onions garlic leeks".split():
        store.add_memory(Kind.FACT, f"The user grows {plant} in the garden behind the house.")
    patient = settings()
    patient.memory.max_delay_s = 0.0  # so prompt_for shows just what was read ahead
    chat = ChatService(ModelOwner(smollm, reading_speed=40.0), store, patient)
    cost_of = price(smollm.count_tokens)
    draft = "What do I grow in the garden"
    chat.read_ahead("c", draft)
    first = chat.prompt_for("c", draft).shown
    assert first and sum(cost_of(m) for m in store.get_many(list(first))) <= 60
    chat.read_ahead("c", draft + " behind the house, tell me")
    second = chat.prompt_for("c", draft).shown
    assert second[: len(first)] == first and len(second) > len(first)
