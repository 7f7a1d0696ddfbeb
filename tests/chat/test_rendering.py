"""Message text as HTML: escaped always, links clickable and safe."""

from __future__ import annotations

import pytest

from chat.templatetags.chat_tags import linkify


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (
            "see https://example.com/a?b=1&c=2 now",
            'see <a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener noreferrer"'
            ' target="_blank">https://example.com/a?b=1&amp;c=2</a> now',
        ),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("javascript:alert(1)", "javascript:alert(1)"),
        (
            '<a href="javascript:alert(1)">x</a>',
            "&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;",
        ),
        ("mail me@example.com", 'mail <a href="mailto:me@example.com">me@example.com</a>'),
    ],
)
def test_links_are_clickable_and_nothing_else_is_markup(text: str, html: str) -> None:
    assert linkify(text) == html
