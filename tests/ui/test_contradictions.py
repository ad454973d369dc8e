"""The contradictions inbox on a real session and store, with pairs flagged by consolidation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from mneme.assistant.contradictions import Decision
from mneme.memory import Author, Embedder, Kind, ListQuery, Memory, MemoryStore, State
from mneme.memory.consolidation import Consolidator
from mneme.ui.contradictions import ContradictionsInbox
from mneme.ui.session import AppSession
from tests.fakes import RuleModel
from tests.memory.consolidation.support import DAY, START, say

from .memory_session import memory_session, store_of

NEWER = "User said: Sister's name is Anna, probably."
"""Third person on purpose: the pair is the model's facts, not statements in the first person."""


@pytest.fixture
def session(qtbot: QtBot, home: Path, embedder: Embedder) -> Iterator[AppSession]:
    yield from memory_session(qtbot, home, embedder)


def flag_by_consolidation(store: MemoryStore) -> tuple[Memory, Memory]:
    """Two conversations that disagree, consolidated as the app does: (earlier, newer)."""
    say(store, "family", ["Sister's name is Ana.", "ok"])
    store.set_conversation_title("family", "Family news")
    Consolidator(store, RuleModel()).run(everything=True)
    say(store, "visit", ["Sister's name is Anna, probably.", "ok"], at=START + DAY)
    store.set_conversation_title("visit", "Planning the visit")
    model = RuleModel(decisions={NEWER: ("contradict", 1)})
    report = Consolidator(store, model).run(everything=True)
    (new,) = store.get_many(report.contradictions)
    return store.get(str(new.extra["conflicts_with"])), new


def flag_by_hand(store: MemoryStore, earlier: str, newer: str) -> tuple[Memory, Memory]:
    """A pair recorded the way consolidation records it, without running it."""
    old = store.add_memory(Kind.FACT, earlier, said_at=START, author=Author.CONSOLIDATION)
    new = store.add_memory(
        Kind.FACT,
        newer,
        said_at=START + DAY,
        valid_from=START + DAY,
        author=Author.CONSOLIDATION,
        extra={"conflicts_with": old.id},
    )
    return old, new


def open_inbox(qtbot: QtBot, session: AppSession, expected: int) -> ContradictionsInbox:
    inbox = ContradictionsInbox(session)
    qtbot.addWidget(inbox)
    inbox.show()
    qtbot.waitUntil(lambda: inbox.count == expected and not inbox.loading, timeout=30_000)
    return inbox


def day(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(t))


def test_a_flagged_pair_is_shown_side_by_side_with_dates_and_conversations(
    qtbot: QtBot, session: AppSession
) -> None:
    old, new = flag_by_consolidation(store_of(session))
    inbox = open_inbox(qtbot, session, 1)
    assert inbox.pages.currentIndex() == 1 and [p.key for p in inbox.pairs] == [new.id]
    assert inbox.old_box.text.text() == "User said: Sister's name is Ana."
    assert inbox.new_box.text.text() == NEWER
    old_details, new_details = inbox.old_box.details.text(), inbox.new_box.details.text()
    assert f"Known since {day(START)}, from “Family news”" in old_details
    assert f"Known since {day(START + DAY)}, from “Planning the visit”" in new_details
    assert "You said: “Sister's name is Anna, probably.”" in new_details
    assert all(b.isEnabled() for b in (inbox.keep_new_button, inbox.keep_old_button))
    assert inbox.current() is not None and inbox.current().old.memory.id == old.id  # type: ignore[union-attr]


def test_keep_the_new_one_supersedes_the_old_one_from_the_new_ones_date(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    old, new = flag_by_consolidation(store)
    inbox = open_inbox(qtbot, session, 1)
    with qtbot.waitSignal(inbox.decided, timeout=30_000) as decided:
        inbox.keep_new_button.click()
    assert decided.args == [new.id, Decision.KEEP_NEW.value]
    qtbot.waitUntil(lambda: inbox.count == 0)
    assert inbox.pages.currentIndex() == 0 and "Kept “" in inbox.status.text()
    kept, dropped = store.get(new.id), store.get(old.id)
    assert kept.state is State.ACTIVE and "conflicts_with" not in kept.extra
    assert dropped.state is State.SUPERSEDED and dropped.superseded_by == new.id
    assert dropped.valid_to == kept.valid_from == START + DAY
    assert [f.id for f in store.facts_as_of(START + 60)] == [old.id]  # true back then
    assert store.count(Kind.FACT) == 2  # nothing deleted


def test_keep_the_old_one_sets_the_new_one_aside_as_never_valid(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    old, new = flag_by_consolidation(store)
    inbox = open_inbox(qtbot, session, 1)
    with qtbot.waitSignal(inbox.countChanged, timeout=30_000) as changed:
        inbox.keep_old_button.click()
    assert changed.args == [0]
    kept, dropped = store.get(old.id), store.get(new.id)
    assert kept.state is State.ACTIVE and kept.version == old.version
    assert dropped.state is State.SUPERSEDED and dropped.superseded_by == old.id
    assert dropped.valid_to == dropped.valid_from and "conflicts_with" not in dropped.extra
    assert store.history(new.id)[-1].extra["conflicts_with"] == old.id  # the flag is history
    assert [f.id for f in store.facts_as_of(START + 2 * DAY)] == [old.id]
    assert "set aside" in inbox.status.text()


def test_both_are_true_only_clears_the_flag(qtbot: QtBot, session: AppSession) -> None:
    store = store_of(session)
    old, new = flag_by_consolidation(store)
    inbox = open_inbox(qtbot, session, 1)
    with qtbot.waitSignal(inbox.decided, timeout=30_000):
        inbox.decide(Decision.BOTH)
    qtbot.waitUntil(lambda: inbox.count == 0)
    assert store.get(old.id) == old
    now = store.get(new.id)
    assert now.state is State.ACTIVE and "conflicts_with" not in now.extra
    assert now.author is Author.USER
    active = store.browse(ListQuery(kinds=(Kind.FACT,), states=(State.ACTIVE,))).items
    assert {f.id for f in active} == {old.id, new.id}


def test_edit_asks_for_the_fact_on_either_side(qtbot: QtBot, session: AppSession) -> None:
    old, new = flag_by_consolidation(store_of(session))
    inbox = open_inbox(qtbot, session, 1)
    with qtbot.waitSignal(inbox.editRequested) as asked:
        inbox.new_box.edit_button.click()
    assert asked.args == [new.id]
    with qtbot.waitSignal(inbox.editRequested) as asked:
        inbox.old_box.edit_button.click()
    assert asked.args == [old.id]
    assert inbox.count == 1  # editing decides nothing


def test_the_count_follows_the_store(qtbot: QtBot, session: AppSession) -> None:
    store = store_of(session)
    inbox = open_inbox(qtbot, session, 0)
    assert inbox.pages.currentIndex() == 0 and not inbox.keep_new_button.isEnabled()
    with qtbot.waitSignal(inbox.countChanged, timeout=30_000) as changed:
        _, lisbon = flag_by_hand(store, "The user lives in Porto.", "The user lives in Lisbon.")
    assert changed.args == [1]
    with qtbot.waitSignal(inbox.countChanged, timeout=30_000) as changed:
        cat_old, cat_new = flag_by_hand(store, "The cat is called Miso.", "The cat is Mochi.")
    assert changed.args == [2] and {p.key for p in inbox.pairs} == {lisbon.id, cat_new.id}
    # an earlier fact forgotten meanwhile: only the newer one can be kept
    with qtbot.waitSignal(session.memoriesChanged, timeout=30_000):
        store.forget([cat_old.id])
    qtbot.waitUntil(lambda: inbox.select(cat_new.id) and inbox.current().old is None)  # type: ignore[union-attr]
    assert inbox.old_box.text.text() == "(no longer in memory)"
    assert not inbox.keep_old_button.isEnabled() and inbox.keep_new_button.isEnabled()
    with qtbot.waitSignal(inbox.countChanged, timeout=30_000) as changed:
        inbox.keep_new_button.click()
    assert changed.args == [1] and "conflicts_with" not in store.get(cat_new.id).extra
    assert [p.key for p in inbox.pairs] == [lisbon.id]


def test_a_decision_on_a_fact_forgotten_meanwhile_fails_clearly(
    qtbot: QtBot, session: AppSession
) -> None:
    store = store_of(session)
    old, new = flag_by_hand(store, "The user drives a Fiat.", "The user drives a Volvo.")
    inbox = open_inbox(qtbot, session, 1)
    store.delete([new.id])  # before the inbox hears of it
    with qtbot.waitSignal(inbox.failed, timeout=30_000) as failed:
        inbox.decide(Decision.KEEP_OLD)
    assert failed.args[0].startswith("Your decision could not be saved, so nothing changed: ")
    assert new.id in failed.args[0] and inbox.status.text() == failed.args[0]
    assert store.get(old.id) == old
    qtbot.waitUntil(lambda: inbox.count == 0)  # and then the list catches up
