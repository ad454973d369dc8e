from __future__ import annotations

from datetime import datetime

import pytest

from mneme.memory import parse_time

NOW = datetime(2024, 6, 12, 15, 30).timestamp()  # a Wednesday


def span(text: str) -> tuple[datetime | None, datetime | None]:
    hint = parse_time(text, NOW)
    assert hint is not None, text
    return (
        datetime.fromtimestamp(hint.since) if hint.since is not None else None,
        datetime.fromtimestamp(hint.until) if hint.until is not None else None,
    )


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("what did I eat yesterday?", datetime(2024, 6, 11), datetime(2024, 6, 12)),
        ("today's plan", datetime(2024, 6, 12), datetime(2024, 6, 13)),
        ("the day before yesterday", datetime(2024, 6, 10), datetime(2024, 6, 11)),
        ("what happened last week", datetime(2024, 6, 3), datetime(2024, 6, 10)),
        ("last month", datetime(2024, 5, 1), datetime(2024, 6, 1)),
        ("last year", datetime(2023, 1, 1), datetime(2024, 1, 1)),
        ("three days ago", datetime(2024, 6, 9), datetime(2024, 6, 10)),
        ("in May", datetime(2024, 5, 1), datetime(2024, 6, 1)),
        ("in December", datetime(2023, 12, 1), datetime(2024, 1, 1)),
        ("during March 2022", datetime(2022, 3, 1), datetime(2022, 4, 1)),
        ("on 5 May", datetime(2024, 5, 5), datetime(2024, 5, 6)),
        ("May 5th, 2023", datetime(2023, 5, 5), datetime(2023, 5, 6)),
        ("last Monday", datetime(2024, 6, 10), datetime(2024, 6, 11)),
        ("last Wednesday", datetime(2024, 6, 5), datetime(2024, 6, 6)),
        ("last summer", datetime(2023, 6, 1), datetime(2023, 9, 1)),
        ("in 2021", datetime(2021, 1, 1), datetime(2022, 1, 1)),
    ],
)
def test_ranges(text: str, since: datetime, until: datetime) -> None:
    assert span(text) == (since, until)


def test_before_and_after_a_date_are_open_ended() -> None:
    assert span("before May") == (None, datetime(2024, 5, 1))
    assert span("after last week") == (datetime(2024, 6, 10), None)
    assert span("since 2020") == (datetime(2020, 1, 1), None)


def test_recently_is_the_last_thirty_days() -> None:
    since, until = span("what have I read recently")
    assert since == datetime(2024, 5, 13, 15, 30) and until == datetime(2024, 6, 12, 15, 30)


def test_events_are_left_for_retrieval_to_find() -> None:
    hint = parse_time("Where did we eat before my trip?", NOW)
    assert hint is not None and hint.event == "my trip" and hint.relation == "before"
    hint = parse_time("what changed after the wedding and the move", NOW)
    assert hint is not None and hint.event == "the wedding" and hint.relation == "after"


@pytest.mark.parametrize(
    "text",
    ["you may go now", "what is my sister's name", "how many cats do I have", "", "   "],
)
def test_no_time_where_there_is_none(text: str) -> None:
    assert parse_time(text, NOW) is None
