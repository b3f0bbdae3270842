import pytest

from libs.contracts.errors import InvalidInput
from services.gateway.read.search import Search, parse_search


def test_empty_search_filters_nothing() -> None:
    assert parse_search(None) == Search() and parse_search("   ") == Search()


def test_keywords_and_free_text() -> None:
    s = parse_search("my notebook status:running userId:7 computeEnvId:ce1")
    assert s.text == "my notebook" and s.words == ("my", "notebook")
    assert (s.statuses, s.user_ids, s.compute_env_ids) == (("running",), ("7",), ("ce1",))


def test_keywords_ignore_case_and_statuses_normalise() -> None:
    s = parse_search("STATUS:BuildFailed userid:3 status:stopped")
    assert s.statuses == ("buildFailed", "stopped") and s.user_ids == ("3",) and s.text is None


def test_quoted_values_and_unbalanced_quotes() -> None:
    assert parse_search('"two words" status:"running"').words == ("two words",)
    assert parse_search('it"s fine').words == ('it"s', "fine")


def test_unknown_keyword_is_free_text() -> None:
    assert parse_search("foo:bar").words == ("foo:bar",)


@pytest.mark.parametrize("bad", ["status:sleeping", "userId:", "status:"])
def test_bad_keywords_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_search(bad)
