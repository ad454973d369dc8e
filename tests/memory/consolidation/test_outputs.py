"""The checks on what the model answers."""

from __future__ import annotations

import pytest

from mneme.memory.consolidation import BadModelOutput
from mneme.memory.consolidation._outputs import decision_from, parse_json, salvage_summary


def test_json_is_found_in_chatter_and_control_characters_are_allowed() -> None:
    assert parse_json('Sure! {"summary": "a\tb\nc"} Hope that helps.') == {"summary": "a\tb\nc"}
    with pytest.raises(BadModelOutput, match="not a JSON object"):
        parse_json('["a list"]')


def test_a_summary_cut_by_the_token_limit_keeps_its_whole_sentences() -> None:
    cut = '{"summary": "Caroline went to a support group on 7 May 2023. She felt \\u00e9mu and then'
    assert salvage_summary(cut) == {"summary": "Caroline went to a support group on 7 May 2023."}
    assert salvage_summary('{"summary": "Too short') is None
    assert salvage_summary("no json at all") is None


def test_a_decision_must_name_an_existing_fact() -> None:
    assert decision_from({"decision": "add", "existing": 0}, 2) == ("add", -1)
    assert decision_from({"decision": "same", "existing": 2}, 2) == ("same", 1)
    for bad in (
        {"decision": "same", "existing": 3},
        {"decision": "merge", "existing": 1},
        {"decision": "supersede", "existing": True},
    ):
        with pytest.raises(BadModelOutput):
            decision_from(bad, 2)
