"""Any text a person can paste goes through the chat service: a reply or a typed refusal."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mneme.assistant.chat import (
    MAX_MESSAGE_CHARS,
    ChatService,
    EmptyMessageError,
    Finished,
    MessageTooLongError,
)
from mneme.assistant.settings import Settings
from mneme.memory import MemoryStore
from tests.fakes import HashEmbedder, ScriptedLLM
from tests.memory.test_properties import NASTY, stored

messages = st.one_of(
    st.sampled_from([*NASTY, " \n\t ", "x" * (MAX_MESSAGE_CHARS + 1)]), st.text(max_size=300)
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(messages, min_size=1, max_size=4))
@example(texts=[NASTY[-1]])  # a 1 MB paste: refused, clearly
def test_any_message_gets_a_reply_or_a_typed_refusal(texts: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = MemoryStore.open(Path(folder), HashEmbedder())
        try:
            chat = ChatService(ScriptedLLM(["Sure.", "Noted, thanks."]), store, Settings())
            expected: list[str] = []
            for text in texts:
                try:
                    events = list(chat.send("c", text))
                except EmptyMessageError:
                    assert not text.strip()
                    continue
                except MessageTooLongError:
                    assert len(text) > MAX_MESSAGE_CHARS
                    continue
                reply = next(e.reply for e in events if isinstance(e, Finished))
                assert reply.text and reply.error is None
                expected += [stored(text), reply.text]
            assert [m.text for m in store.conversation("c")] == expected
        finally:
            store.close()
