"""One owner for the model: a person's request preempts background work within a step."""

from __future__ import annotations

import threading
import time

import pytest

from mneme.assistant.llm import ChatMessage, SamplingParams
from mneme.assistant.llm.local import LlamaCppBackend
from mneme.assistant.llm.owner import ModelOwner, Preempted, Priority

STORY = [ChatMessage("user", "Write a very long story about a lighthouse keeper.")]


def test_a_user_request_preempts_background_generation(smollm: LlamaCppBackend) -> None:
    owner = ModelOwner(smollm)
    background_pieces: list[str] = []
    outcome: list[BaseException | None] = []
    started = threading.Event()

    def background() -> None:
        try:
            for piece in owner.stream_chat(
                STORY, SamplingParams(max_tokens=400), priority=Priority.BACKGROUND
            ):
                background_pieces.append(piece)
                started.set()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=background)
    worker.start()
    assert started.wait(30)
    asked_at = len(background_pieces)
    reply = list(owner.stream_chat([ChatMessage("user", "Hi!")], SamplingParams(max_tokens=8)))
    worker.join(30)
    assert reply
    assert isinstance(outcome[0], Preempted)
    # the background generation stopped within a step or two of the request
    assert len(background_pieces) - asked_at <= 2
    assert not owner.busy


def test_background_work_waits_while_a_person_is_served(smollm: LlamaCppBackend) -> None:
    owner = ModelOwner(smollm)
    order: list[str] = []
    user_started = threading.Event()

    def user() -> None:
        for _ in owner.stream_chat(STORY, SamplingParams(max_tokens=20)):
            user_started.set()
        order.append("user done")

    def background() -> None:
        list(
            owner.stream_chat(
                [ChatMessage("user", "hi")],
                SamplingParams(max_tokens=4),
                priority=Priority.BACKGROUND,
            )
        )
        order.append("background done")

    u = threading.Thread(target=user)
    u.start()
    assert user_started.wait(30)
    b = threading.Thread(target=background)
    b.start()
    u.join(60)
    b.join(60)
    assert order == ["user done", "background done"]


def test_a_cancelled_wait_gives_up_without_running(smollm: LlamaCppBackend) -> None:
    from mneme.assistant.llm import CancelToken

    owner = ModelOwner(smollm)
    hold = owner.stream_chat(STORY, SamplingParams(max_tokens=50))
    next(hold)  # the model is now busy
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    t0 = time.monotonic()
    assert (
        list(
            owner.stream_chat(STORY, SamplingParams(), cancel=cancel, priority=Priority.BACKGROUND)
        )
        == []
    )
    assert time.monotonic() - t0 < 5
    hold.close()
    assert not owner.busy


@pytest.mark.parametrize("priority", list(Priority))
def test_the_owner_is_released_when_a_stream_is_abandoned(
    smollm: LlamaCppBackend, priority: Priority
) -> None:
    owner = ModelOwner(smollm)
    stream = owner.stream_chat(STORY, SamplingParams(max_tokens=50), priority=priority)
    next(stream)
    stream.close()
    assert not owner.busy
