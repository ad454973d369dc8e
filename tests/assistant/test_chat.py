"""The chat loop: retrieve, prompt, stream, remember."""

from __future__ import annotations

import pytest

from assistant.chat import (
    ChatService,
    EmptyMessageError,
    Finished,
    MessageTooLongError,
    PromptReady,
    Reply,
    Token,
)
from assistant.llm import CancelToken, GenerationError
from assistant.llm.local import LlamaCppBackend
from assistant.settings import Settings
from memory import MemoryStore
from tests.fakes import ScriptedLLM


def settings() -> Settings:
    s = Settings()
    s.model.max_tokens = 24
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


def test_a_failing_model_loses_nothing_the_user_typed(store: MemoryStore) -> None:
    chat = ChatService(ScriptedLLM(["a b c d"], fail_after=2), store, settings())
    with pytest.raises(GenerationError):
        run(chat, "c", "Please remember my locker code is 4411.")
    assert [m.text for m in store.conversation("c")] == ["Please remember my locker code is 4411."]


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
