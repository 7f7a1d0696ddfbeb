"""linkify skips urlize for text with nothing it could link: the output must not change."""

from __future__ import annotations

from django.utils.html import urlize
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.templatetags.chat_tags import _MAY_LINK, linkify

WORDS = st.sampled_from(
    ["ok", "you.", "www.", "www.(x", "a.b", "x.com", "e@x.org", "http://x", "&amp;.", "<b>",
     "(hi)", "end.)", "é", "...", "a:b", "\n", "  ", "'quote'", "&", "www.x.com."]
)  # fmt: skip


def slow(text: str, autoescape: bool) -> str:
    html = urlize(text, nofollow=True, autoescape=autoescape)
    return html.replace('rel="nofollow"', 'rel="nofollow noopener noreferrer" target="_blank"')


@settings(max_examples=500)
@given(st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=8), st.booleans())
def test_linkify_without_link_candidates_is_what_urlize_would_give(
    words: list[str], autoescape: bool
) -> None:
    text = " ".join(words)
    assert linkify(text, autoescape=autoescape) == slow(text, autoescape)


def test_the_fast_path_is_taken_for_plain_sentences() -> None:
    assert not _MAY_LINK.search("Thanks, that worked! See you. Bye")
    assert _MAY_LINK.search("see example.com")
    assert 'href="http://example.com"' in linkify("see example.com")
