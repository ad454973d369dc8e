"""The chat loop: retrieve, prompt, stream, remember."""

from __future__ import annotations

import pytest

from mneme.assistant.chat import (
    ChatService,
    EmptyMessageError,
    Finished,
    MessageTooLongError,
    NothingToRedoError,
    PromptReady,
    Reply,
    Token,
)
from mneme.assistant.llm import CancelToken, ChatMessage, GenerationError
from mneme.assistant.llm.local import LlamaCppBackend
from mneme.assistant.settings import Settings
from mneme.memory import Kind, MemoryStore, NewEpisode, State, StoreUnavailableError
from tests.fakes import ScriptedLLM


def settings() -> Settings:
    s = Settings()
    s.generation.max_tokens = 24
    s.model.seed = 5
    return s


def run(
    chat: ChatService, conversation: str, text: str, cancel: CancelToken | None = None
) -> tuple[Reply, PromptReady, list[str]]:
    tokens, prompt, reply = [], None, None
    for event in chat.send(conversation, text, cancel=cancel):
        if isinstance(event, Token):
            tokens.append(event.text)
        elif isinstance(event, PromptReady):
            prompt = event
        elif isinstance(event, Finished):
            reply = event.reply
    assert reply is not None and prompt is not None
    return reply, prompt, tokens


def test_a_later_conversation_recalls_an_earlier_one(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    chat = ChatService(smollm, store, settings())
    run(chat, "first", "My sister Ana just moved to Lisbon, she loves the trams there.")
    run(chat, "first", "I also started learning the cello.")
    reply, prompt, tokens = run(chat, "second", "Which city did my sister move to?")
    block = prompt.prompt.memory_block
    assert block is not None and "Ana just moved to Lisbon" in block
    assert any("Lisbon" in h.memory.text for h in reply.used)
    # the new conversation's history holds only its own turn
    assert prompt.prompt.history_turns == 0
    assert tokens and reply.text == "".join(tokens).strip()
    # both turns of every exchange were remembered
    assert [m.role for m in store.conversation("second")] == ["user", "assistant"]
    assert len(store.conversation("first")) == 4


def test_the_prompt_a_send_would_make_is_the_one_it_makes(store: MemoryStore) -> None:
    """``prompt_for`` shows what the model would be given, and changes nothing."""
    chat = ChatService(ScriptedLLM(["Noted.", "Lisbon."]), store, settings())
    run(chat, "first", "My sister Ana just moved to Lisbon, she loves the trams there.")
    before = store.count()
    shown = chat.prompt_for("second", "Which city did my sister move to?")
    assert store.count() == before and chat.turns("second") == []
    _, sent, _ = run(chat, "second", "Which city did my sister move to?")
    assert shown.messages == sent.prompt.messages and shown.shown == sent.prompt.shown
    assert shown.memory_block is not None and "Lisbon" in shown.memory_block


def test_the_conversation_so_far_is_in_the_prompt_not_duplicated_as_memory(
    store: MemoryStore,
) -> None:
    llm = ScriptedLLM(["Noted.", "You said blue."])
    chat = ChatService(llm, store, settings())
    run(chat, "c", "My favourite colour is blue.")
    _, prompt, _ = run(chat, "c", "What is my favourite colour?")
    contents = [m.content for m in prompt.prompt.messages]
    assert contents[1:] == [
        "My favourite colour is blue.",
        "Noted.",
        "What is my favourite colour?",
    ]
    assert prompt.prompt.memory_block is None  # the only related turns are in the history


def test_stop_keeps_the_message_and_the_partial_reply(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    chat = ChatService(smollm, store, settings())
    cancel = CancelToken()
    reply = None
    for event in chat.send("c", "Tell me a long story about a fox.", cancel=cancel):
        if isinstance(event, Token):
            cancel.cancel()
        if isinstance(event, Finished):
            reply = event.reply
    assert reply is not None and reply.stopped and reply.pieces == 1
    turns = store.conversation("c")
    assert turns[0].text == "Tell me a long story about a fox."
    assert len(turns) == (2 if reply.text else 1)


def test_a_model_failing_before_replying_loses_nothing_the_user_typed(store: MemoryStore) -> None:
    chat = ChatService(ScriptedLLM(["a b c d"], fail_after=0), store, settings())
    with pytest.raises(GenerationError):
        run(chat, "c", "Please remember my locker code is 4411.")
    assert [m.text for m in store.conversation("c")] == ["Please remember my locker code is 4411."]


def test_a_turn_that_cannot_be_stored_fails_the_send_and_stores_no_reply(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's turn is stored while the model reads the prompt; a failure there
    must still reach the caller, and no orphan reply may be written after it."""

    def disk_full(episodes: object) -> object:
        raise StoreUnavailableError("the disk is full")

    chat = ChatService(ScriptedLLM(["fine"]), store, settings())
    monkeypatch.setattr(store, "add_episodes", disk_full)
    with pytest.raises(StoreUnavailableError, match="disk is full"):
        run(chat, "c", "Hello")
    monkeypatch.undo()
    assert store.conversation("c") == []


def test_a_model_failing_midway_keeps_the_partial_reply(store: MemoryStore) -> None:
    chat = ChatService(ScriptedLLM(["one two three four"], fail_after=2), store, settings())
    reply, _, tokens = run(chat, "c", "Count for me.")
    assert reply.error == "scripted failure" and tokens == ["one", " two"]
    assert [m.text for m in store.conversation("c")] == ["Count for me.", "one two"]


def test_temporary_chat_neither_reads_nor_writes_memory(store: MemoryStore) -> None:
    llm = ScriptedLLM(["Noted.", "Sure.", "Again."])
    chat = ChatService(llm, store, settings())
    run(chat, "kept", "My cat is called Miso.")
    before = store.count()
    temp = chat.start_temporary()
    _, prompt, _ = run(chat, temp, "What is my cat called?")
    assert prompt.prompt.memory_block is None
    _, prompt2, _ = run(chat, temp, "And again?")
    assert [m.content for m in prompt2.prompt.messages[1:3]] == ["What is my cat called?", "Sure."]
    assert store.count() == before
    chat.end_temporary(temp)
    assert chat.history(temp) == []


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_empty_message_is_not_sent(store: MemoryStore, text: str) -> None:
    llm = ScriptedLLM()
    with pytest.raises(EmptyMessageError):
        run(ChatService(llm, store, settings()), "c", text)
    assert llm.prompts == [] and store.count() == 0


def test_an_absurdly_long_message_is_refused_clearly(store: MemoryStore) -> None:
    with pytest.raises(MessageTooLongError, match="limit"):
        run(ChatService(ScriptedLLM(), store, settings()), "c", "x" * 300_000)
    assert store.count() == 0


def test_a_long_message_is_accepted_remembered_whole_and_cut_for_the_model(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    text = "Here are my notes. " + "note " * 20_000  # 100,019 characters
    reply, prompt, _ = run(ChatService(smollm, store, settings()), "c", text)
    assert reply.message_truncated and prompt.prompt.message_truncated
    assert store.conversation("c")[0].text == text


# -- redoing replies ------------------------------------------------------------------


def test_regenerate_keeps_the_old_reply_superseded(store: MemoryStore) -> None:
    chat = ChatService(ScriptedLLM(["First answer.", "Second answer."]), store, settings())
    run(chat, "c", "Name a colour.")
    old = store.conversation("c")[-1]
    reply = next(e.reply for e in chat.regenerate("c") if isinstance(e, Finished))
    assert reply.text == "Second answer."
    assert [m.text for m in store.conversation("c")] == ["Name a colour.", "Second answer."]
    assert store.get(old.id).state is State.SUPERSEDED
    assert [m.text for m in store.conversation("c", superseded=True)][1] == "First answer."


def test_edit_and_resend_rewrites_the_turn_with_history(store: MemoryStore) -> None:
    llm = ScriptedLLM(["Paris.", "Rome.", "Madrid."])
    chat = ChatService(llm, store, settings())
    run(chat, "c", "Capital of France?")
    run(chat, "c", "And of Italy?")
    reply = next(
        e.reply
        for e in chat.edit_and_resend("c", 0, "Capital of Spain?")
        if isinstance(e, Finished)
    )
    assert reply.text == "Madrid."
    turns = store.conversation("c")
    assert [m.text for m in turns] == ["Capital of Spain?", "Madrid."]
    assert [h.text for h in store.history(turns[0].id)] == ["Capital of France?"]
    superseded = [
        m for m in store.conversation("c", superseded=True) if m.state is State.SUPERSEDED
    ]
    assert [m.text for m in superseded] == ["Paris.", "And of Italy?", "Rome."]
    # the model was asked the edited question, without the superseded turns
    assert [m.content for m in llm.prompts[-1][1:]] == ["Capital of Spain?"]
    with pytest.raises(NothingToRedoError):
        chat.edit_and_resend("c", 1, "not mine")


def test_continue_extends_the_last_reply_with_history(store: MemoryStore) -> None:
    llm = ScriptedLLM(["One, two,", " three, four."])  # a continuation is appended verbatim
    chat = ChatService(llm, store, settings())
    run(chat, "c", "Count to four.")
    reply = next(e.reply for e in chat.continue_reply("c") if isinstance(e, Finished))
    assert reply.text == "One, two, three, four."
    assert llm.continued[-1] is True
    assert llm.prompts[-1][-1] == ChatMessage("assistant", "One, two,")
    last = store.conversation("c")[-1]
    assert last.text == "One, two, three, four." and last.version == 2


def test_continue_on_the_real_model(store: MemoryStore, smollm: LlamaCppBackend) -> None:
    chat = ChatService(smollm, store, settings())
    run(chat, "c", "List the days of the week.")
    before = store.conversation("c")[-1].text
    reply = next(e.reply for e in chat.continue_reply("c") if isinstance(e, Finished))
    assert reply.text.startswith(before) and len(reply.text) > len(before)


def test_redo_needs_something_to_redo(store: MemoryStore) -> None:
    chat = ChatService(ScriptedLLM(), store, settings())
    for redo in (chat.regenerate, chat.continue_reply):
        with pytest.raises(NothingToRedoError):
            redo("empty")


def test_redo_in_a_temporary_chat_stays_out_of_memory(store: MemoryStore) -> None:
    chat = ChatService(ScriptedLLM(["A.", "B.", " C. D."]), store, settings())
    temp = chat.start_temporary()
    run(chat, temp, "Say a letter.")
    list(chat.regenerate(temp))
    list(chat.continue_reply(temp))
    assert chat.turns(temp) == [("user", "Say a letter."), ("assistant", "B. C. D.")]
    assert store.count() == 0


# -- grounding ----------------------------------------------------------------------------


def test_pinned_memories_are_always_in_the_prompt(store: MemoryStore) -> None:
    store.add_memory(Kind.FACT, "The user is vegetarian.", pinned=True)
    llm = ScriptedLLM(["Sure."])
    _, prompt, _ = run(ChatService(llm, store, settings()), "c", "Suggest a movie.")
    block = prompt.prompt.pinned_block
    assert block is not None and "The user is vegetarian." in block and "Pinned" in block
    assert prompt.prompt.messages[0].content.endswith(block)  # in the system message


def test_the_memories_a_reply_used_are_kept_with_it(store: MemoryStore) -> None:  # type: ignore[no-untyped-def]
    chat = ChatService(ScriptedLLM(["Noted.", "Lisbon."]), store, settings())
    run(chat, "a", "My sister Ana lives in Lisbon.")
    reply, _, _ = run(chat, "b", "Where does my sister live?")
    assert reply.used and reply.assistant_memory is not None
    kept = store.uses(reply.assistant_memory.id)
    assert [h.memory.id for h in kept] == [h.memory.id for h in reply.used]
    assert kept[0].explanation == reply.used[0].explanation
    assert store.get(reply.used[0].memory.id).access_count == 1
    store.delete([reply.used[0].memory.id])
    assert reply.used[0].memory.id not in [
        h.memory.id for h in store.uses(reply.assistant_memory.id)
    ]


def test_a_short_follow_up_is_searched_with_the_question_before_it(store: MemoryStore) -> None:
    store.add_episodes([NewEpisode("My neighbour Ilse keeps bees and sells honey.", "user", "old")])
    chat = ChatService(ScriptedLLM(["Ilse keeps bees.", "Honey."]), store, settings())
    run(chat, "new", "What does my neighbour Ilse do?")
    _, prompt, _ = run(chat, "new", "And what does she sell?")
    block = prompt.prompt.memory_block or ""
    assert "sells honey" in block


def test_the_model_writes_a_title_when_free(store: MemoryStore, smollm: LlamaCppBackend) -> None:
    chat = ChatService(smollm, store, settings())
    run(chat, "c", "Can you help me plan a vegetable garden for spring?")
    title = chat.suggest_title("c")
    assert title and 2 <= len(title) <= 80 and "\n" not in title
    assert store.get_conversation("c").title == title  # type: ignore[union-attr]


def test_memories_fill_the_room_they_are_given(store: MemoryStore, smollm: LlamaCppBackend) -> None:
    """How many are retrieved follows the room for memories in the model's context, not
    a fixed number; ``memory.top_k`` is a ceiling."""
    plants = "tomatoes basil peppers beans peas lettuce carrots onions garlic leeks mint sage"
    for plant in plants.split():
        store.add_memory(Kind.FACT, f"The user grows {plant} in the garden behind the house.")
    roomy = settings()
    chat = ChatService(smollm, store, roomy)
    question = "What do I grow in my garden?"
    many = chat.retrieve(question)
    assert 6 < len(many) <= 12  # more than the fixed 6 of before (the unrelated left out)
    assert len(chat.prompt_for("c", question).shown) == len(many)
    roomy.memory.budget_fraction = 0.05  # a fifth of the room
    assert len(chat.retrieve(question)) == chat._builder().memory_budget // 48 < 6
    roomy.memory.top_k = 3
    roomy.memory.budget_fraction = 0.25
    assert len(chat.retrieve(question)) == 3
