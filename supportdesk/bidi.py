"""Bidirectional isolation of text people typed (names, messages): a right-to-left override
(U+202E) or a right-to-left name must not reorder the text around it (issue 16: "… · Alice"
read backwards, disguising who a chat is from).

In HTML, such text goes inside `<bdi>` (the `bdi` template filter) or a block of its own with
`dir="auto"`; where no element may go (an `<option>`'s text, a notification's title, a stored
system line that a template shows as text), between FIRST STRONG ISOLATE and POP DIRECTIONAL
ISOLATE (`isolated`), which isolate the same way. Plain text gets them only when it holds
something that could reorder the text around it, so "Alice joined the chat." stays as typed
(searchable, comparable); static/supportdesk/text.js `isolated` does the same for what it writes.
"""

from __future__ import annotations

import unicodedata

from django.utils.html import format_html
from django.utils.safestring import SafeString

FSI = "\u2068"  # FIRST STRONG ISOLATE: direction from the text's first strong character
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE

# Bidi classes that can move the text around them: right-to-left letters, Arabic digits, and
# the explicit embeddings, overrides and isolates (Unicode's bidirectional algorithm, UAX #9).
REORDERING = {"R", "AL", "AN", "LRE", "LRO", "RLE", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}


def may_reorder(text: str) -> bool:
    """Whether `text` holds a character that can reorder the text around it."""
    return any(unicodedata.bidirectional(char) in REORDERING for char in text)


def isolated(text: str) -> str:
    """`text`, between isolate characters if it may reorder its surroundings: for plain-text
    places."""
    return f"{FSI}{text}{PDI}" if may_reorder(text) else text


def bdi(text: object) -> SafeString:
    """`text`, escaped, inside `<bdi>`: for HTML."""
    return format_html("<bdi>{}</bdi>", text)
