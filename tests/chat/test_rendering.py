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


def test_a_fragment_shared_by_many_sockets_is_what_rendering_it_would_give() -> None:
    """`render_shared` renders once per process and language and time zone: whatever was
    rendered before, each combination (and each change of the data) gets its own HTML."""
    from django.template.loader import render_to_string
    from django.utils import timezone, translation

    from chat.rendering import render_messages

    message = {
        "id": 1,
        "conversation_id": 7,
        "seq": 3,
        "sender_kind": "visitor",
        "author_name": "Ada",
        "body": "hello <b>there</b>",
        "client_id": None,
        "created_at": "2026-11-27T09:30:00+00:00",
    }
    seen = set()
    for language, zone, body in [
        ("en", "UTC", "hello"),
        ("de", "UTC", "hello"),
        ("de", "Asia/Tokyo", "hello"),
        ("de", "Asia/Tokyo", "changed"),
        ("en", "UTC", "hello"),
    ]:
        data = {**message, "body": body}
        with translation.override(language), timezone.override(zone):
            expected = render_to_string(
                "chat/_message.html#message", {"message": data, "viewer": "visitor"}
            )
            assert render_messages([data], viewer="visitor") == expected  # type: ignore[list-item]
            assert render_messages([data], viewer="visitor") == expected  # type: ignore[list-item]
        seen.add(expected)
    assert len(seen) == 3  # the language and the data change the HTML (times carry their zone)
