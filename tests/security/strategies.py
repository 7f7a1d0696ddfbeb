"""Hypothesis strategies for what an attacker sends (text no client would type, values of the
wrong type, ids that are not theirs), and the settings the attack tests run with."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Any code point but lone surrogates (they cannot be encoded to UTF-8, so no client can send
# them): NUL, control characters, bidi overrides, emoji and private use included.
ANY_CHAR = st.characters(exclude_categories=["Cs"])

# Strings that have broken parsers, templates and databases elsewhere.
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n\r\n",
    "\u202eevil",
    "\ufeff",
    "\u0085\u2028\u2029",
    "\x1b[31m",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "{{ 7|add:7 }}{% debug %}",
    "' OR 1=1 --",
    "%00%ff",
    "../../../../etc/passwd",
    "null",
    "true",
    "[]",
    "{}",
    "NaN",
    "-1",
    "0",
    "1e309",
    "9" * 30,
    "9" * 5000,  # past Python's int() digit limit
    "٣",
    "\uff15",  # a fullwidth 5: int() takes it
    "0x10",
    " 3 ",
    "😀" * 3,
    "x@y",
    "a@b.c" * 100,
]

text = st.text(ANY_CHAR, max_size=200)

# Up to ~1 MB, built by repetition: generating a megabyte character by character is slow.
huge = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["x", "é", "\x00", "<b>", " ", "😀", "\u0301"]),
    st.integers(min_value=1_000, max_value=1_000_000),
)

integer_strings = st.integers(min_value=-(10**30), max_value=10**30).map(str)

hostile_string = st.one_of(
    st.sampled_from(NASTY),
    text,
    integer_strings,
    st.uuids().map(str),
    huge,
)

# Text for one URL path segment (as an id or a key): anything but what ends one.
path_segments = text.filter(lambda segment: not {"/", "?", "#"} & set(segment))

# Inbox keys no inbox has: NUL and all ("." and ".." would be path steps, not keys).
foreign_keys = st.one_of(st.sampled_from([*NASTY, "k" * 65, "k" * 10_000]), path_segments).filter(
    lambda key: key.strip(".") and not {"/", "?", "#"} & set(key)
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False),  # JSON has no NaN; json.dumps would write a non-JSON token
    text,
)

# Any JSON value, a few levels deep.
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def deeply_nested(draw: st.DrawFn) -> str:
    """JSON nested hundreds to a couple of thousand levels deep (past a parser's recursion
    limit), still under the socket's 4096-byte frame limit."""
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"":', "}")]))
    deepest = 4000 // (len(opener) + len(closer))  # 2000 lists, 800 objects
    # Hypothesis favours small numbers: ask for the deep end by name too.
    depth = draw(st.one_of(st.sampled_from([deepest, 1100]), st.integers(100, deepest)))
    inner = draw(st.sampled_from(["1", "[]", '"x"']))
    nested = opener * depth + inner + closer * depth
    # The whole frame, or the value of a frame's "type".
    return draw(st.sampled_from([nested, '{"type": ' + nested + "}"]))


def dumps(value: Any) -> str:
    return json.dumps(value)


def hostile(max_examples: int) -> settings:
    """`max_examples` examples, no deadline (a megabyte body takes its time), and fixtures built
    once per test: each example checks that what it did not own is unchanged."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
