"""Include/exclude filters: pure functions, no database."""

from __future__ import annotations

import pytest

from bot.feeds.filters import (
    FilterError,
    compile_filter,
    compile_filters,
    dump_specs,
    filter_text,
    keep,
    load_specs,
)


def kept(title: str, include=(), exclude=(), summary: str = "", tags: str = "") -> bool:
    return keep(
        filter_text(title, summary, tags), compile_filters(include), compile_filters(exclude)
    )


def test_keywords_match_whole_words_case_insensitively():
    assert kept("Kubernetes 1.31 released", include=["kubernetes"])
    assert not kept("Kubernetesque musings", include=["kubernetes"])
    assert kept("Shipping C++ faster", include=["c++"])
    assert kept("New release notes for Helm", include=["Release Notes"])


def test_include_needs_one_match_and_exclude_vetoes():
    assert kept("Terraform tips", include=["kubernetes", "terraform"])
    assert not kept("Weekly marketing update", include=["kubernetes", "terraform"])
    assert not kept("Kubernetes marketing webinar", include=["kubernetes"], exclude=["webinar"])
    assert kept("Anything at all")  # no filters keep everything


def test_summary_and_tags_count_too():
    assert kept("Weekly notes", include=["k8s"], tags="k8s, ops")
    assert not kept("Weekly notes", exclude=["sponsored"], summary="This post is Sponsored.")


def test_regex_filters():
    assert kept("CVE-2024-1234 in openssl", include=[r"/cve-\d{4}-\d+/"])
    assert kept("ansible 2.17", include=["re:^(ansible|salt)"])
    assert not kept("Hiring: SRE", exclude=["/^hiring/"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [("", "empty"), ("/([unclosed/", "not a valid regular expression"), ("x" * 300, "longer")],
)
def test_bad_filters_say_what_is_wrong(spec, message):
    with pytest.raises(FilterError, match=message):
        compile_filter(spec)


def test_specs_round_trip_through_storage():
    assert load_specs(dump_specs([" k8s ", "", "/cve/"])) == ["k8s", "/cve/"]
    assert load_specs("not json") == [] and load_specs(None) == []
