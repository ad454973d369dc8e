"""Times in a query, understood without a model, against the conversation clock.

``parse_time("what did I cook last week?", now)`` gives the range of last
week; "in May" the most recent May (or May of a year given); "three days
ago" that day; "before my trip" a hint whose event ("my trip") retrieval
looks up in memory to find when it was. Local time is used throughout, since
that is what "yesterday" means to the person asking.

Only unambiguous forms are recognised: "may" alone is a verb, "May 5",
"in May" and "May 2023" are months.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Relation = Literal["before", "after"]

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "couple of": 2,
    "a couple of": 2,
    "few": 3,
    "a few": 3,
}
_SEASONS = {"spring": (3, 3), "summer": (6, 3), "autumn": (9, 3), "fall": (9, 3), "winter": (12, 3)}

_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUMBER_RE = "|".join(sorted(_NUMBERS, key=len, reverse=True)) + r"|\d+"
_REL = r"(?:(?P<rel>before|after|since|until|by)\s+)?"


@dataclass(frozen=True, slots=True)
class TimeHint:
    since: float | None
    until: float | None
    label: str
    """The words that were understood, for the explanation shown to the person."""
    event: str | None = None
    """For "before my trip": the event to look up; since/until are then unset."""
    relation: Relation | None = None


def _day(d: datetime) -> datetime:
    return d.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(year: int, month: int) -> datetime:
    while month > 12:
        year, month = year + 1, month - 12
    while month < 1:
        year, month = year - 1, month + 12
    return datetime(year, month, 1)


def _span(start: datetime, end: datetime, rel: str | None, label: str) -> TimeHint:
    if rel == "before" or rel == "until" or rel == "by":
        return TimeHint(None, start.timestamp(), label)
    if rel == "after":
        return TimeHint(end.timestamp(), None, label)
    if rel == "since":
        return TimeHint(start.timestamp(), None, label)
    return TimeHint(start.timestamp(), end.timestamp(), label)


def _relative_day(text: str, now: datetime) -> TimeHint | None:
    today = _day(now)
    m = re.search(
        r"\b(the day before yesterday|yesterday|today|tonight|this (?:morning|"
        r"afternoon|evening))\b",
        text,
    )
    if not m:
        return None
    word = m.group(1)
    back = 2 if word.startswith("the day before") else 1 if word == "yesterday" else 0
    start = today - timedelta(days=back)
    return TimeHint(start.timestamp(), (start + timedelta(days=1)).timestamp(), word)


def _this_last(text: str, now: datetime) -> TimeHint | None:
    m = re.search(
        _REL + r"\b(?P<which>last|this|past|previous)\s+(?P<unit>week|month|year)\b", text
    )
    if not m:
        return None
    which, unit, rel = m.group("which"), m.group("unit"), m.group("rel")
    today = _day(now)
    if which == "past":
        length = {"week": 7, "month": 30, "year": 365}[unit]
        start, end = now - timedelta(days=length), now
    elif unit == "week":
        monday = today - timedelta(days=today.weekday())
        start = monday if which == "this" else monday - timedelta(days=7)
        end = now if which == "this" else monday
    elif unit == "month":
        first = today.replace(day=1)
        start = first if which == "this" else _month_start(first.year, first.month - 1)
        end = now if which == "this" else first
    else:
        jan = today.replace(month=1, day=1)
        start = jan if which == "this" else jan.replace(year=jan.year - 1)
        end = now if which == "this" else jan
    return _span(start, end, rel, m.group(0).strip())


def _ago(text: str, now: datetime) -> TimeHint | None:
    m = re.search(rf"\b(?P<n>{_NUMBER_RE})\s+(?P<unit>day|week|month|year)s?\s+ago\b", text)
    if not m:
        return None
    raw = m.group("n")
    n = int(raw) if raw.isdigit() else _NUMBERS[raw]
    days = {"day": 1, "week": 7, "month": 30, "year": 365}[m.group("unit")]
    center = now - timedelta(days=n * days)
    if days == 1:
        start = _day(center)
        return TimeHint(start.timestamp(), (start + timedelta(days=1)).timestamp(), m.group(0))
    half = timedelta(days=days / 2)
    return TimeHint((center - half).timestamp(), (center + half).timestamp(), m.group(0))


def _weekday(text: str, now: datetime) -> TimeHint | None:
    m = re.search(
        r"\b(?:(?P<last>last|on|this past)\s+)(?P<day>" + "|".join(_WEEKDAYS) + r")\b", text
    )
    if not m:
        return None
    target = _WEEKDAYS.index(m.group("day"))
    today = _day(now)
    back = (today.weekday() - target) % 7
    if back == 0 and m.group("last") != "on":
        back = 7
    start = today - timedelta(days=back)
    return TimeHint(start.timestamp(), (start + timedelta(days=1)).timestamp(), m.group(0))


def _month(text: str, now: datetime) -> TimeHint | None:
    month = rf"(?P<m>{_MONTH_RE})\.?"
    day = r"(?P<d>\d{1,2})(?:st|nd|rd|th)?\b"
    year = r"(?P<y>(?:19|20)\d\d)\b"
    rel = r"(?P<rel>before|after|since|until|by)\s+"
    lead = r"(?:in|during|on|of|early|late|mid|last|this)\s+"
    forms = (  # "may" alone is a verb: a month needs a day, a year or a leading word
        rf"(?:{rel})?(?:{lead})?\b{day}\s+(?:of\s+)?{month}(?:,?\s+{year})?",
        rf"(?:{rel})?{month}\s+{day}(?:,?\s+{year})?",
        rf"(?:{rel})?{month},?\s+{year}",
        rf"(?:{rel})?\b{lead}{month}",
        rf"{rel}{month}",
    )
    for form in forms:
        m = re.search(r"\b" + form, text)
        if not m:
            continue
        groups = m.groupdict()
        number = _MONTHS[groups["m"]]
        if groups.get("y"):
            year_n = int(groups["y"])
        else:  # the most recent such month, this year or last
            year_n = now.year if number <= now.month else now.year - 1
        label = m.group(0).strip()
        if groups.get("d"):
            try:
                start = datetime(year_n, number, int(groups["d"]))
            except ValueError:
                continue
            return _span(start, start + timedelta(days=1), groups.get("rel"), label)
        start = _month_start(year_n, number)
        return _span(start, _month_start(year_n, number + 1), groups.get("rel"), label)
    return None


def _season(text: str, now: datetime) -> TimeHint | None:
    m = re.search(
        _REL + r"\b(?:(?P<which>last|this)\s+)?(?P<s>spring|summer|autumn|fall|winter)"
        r"(?:\s+(?:of\s+)?(?P<y>(?:19|20)\d\d))?\b",
        text,
    )
    if not m or not (m.group("which") or m.group("y") or m.group("rel")):
        return None
    first_month, length = _SEASONS[m.group("s")]
    if m.group("y"):
        start = _month_start(int(m.group("y")), first_month)
    else:
        start = _month_start(now.year, first_month)
        while start > now:
            start = _month_start(start.year - 1, first_month)
        if m.group("which") == "last" and start <= now < _month_start(
            start.year, first_month + length
        ):
            start = _month_start(start.year - 1, first_month)
    return _span(
        start, _month_start(start.year, start.month + length), m.group("rel"), m.group(0).strip()
    )


def _year(text: str, now: datetime) -> TimeHint | None:
    m = re.search(_REL + r"\b(?:in|during)?\s*(?P<y>(?:19|20)\d\d)\b", text)
    if not m:
        return None
    y = int(m.group("y"))
    return _span(datetime(y, 1, 1), datetime(y + 1, 1, 1), m.group("rel"), m.group(0).strip())


def _recently(text: str, now: datetime) -> TimeHint | None:
    m = re.search(r"\b(recently|lately|the other day|these days)\b", text)
    if not m:
        return None
    return TimeHint((now - timedelta(days=30)).timestamp(), now.timestamp(), m.group(1))


_EVENT = re.compile(
    r"\b(?P<rel>before|after|since)\s+(?P<event>(?:my|our|the|his|her|their|your)\s+"
    r"[\w' -]{2,40}?)(?=[?.!,;]|\s+(?:and|when|but|did|was|were)\b|$)"
)


def _event(text: str) -> TimeHint | None:
    m = _EVENT.search(text)
    if not m:
        return None
    rel: Relation = "before" if m.group("rel") == "before" else "after"
    return TimeHint(None, None, m.group(0).strip(), event=m.group("event").strip(), relation=rel)


def parse_time(query: str, now: float) -> TimeHint | None:
    """The first time expression found in ``query``, resolved against ``now``."""
    text = " ".join(query.lower().split())
    when = datetime.fromtimestamp(now)
    for parse in (_relative_day, _this_last, _ago, _weekday, _month, _season, _year, _recently):
        hint = parse(text, when)
        if hint is not None:
            return hint
    return _event(text)
