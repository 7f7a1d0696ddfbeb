"""The German catalogue: the compiled .mo says what the .po says, and no translation is garbled
(a merge once repeated three of them: "… zurück istSie sind offline — …")."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parent.parent / "locale"
ENTRY = re.compile(
    r'^msgid ((?:"(?:[^"\\]|\\.)*"\n)+)msgstr ((?:"(?:[^"\\]|\\.)*"\n)+)', re.MULTILINE
)


def joined(block: str) -> str:
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', block)
    return "".join(parts).encode("latin-1", "backslashreplace").decode("unicode_escape")


def catalogue(language: str) -> dict[str, str]:
    text = (LOCALE / language / "LC_MESSAGES" / "django.po").read_text()
    entries = {joined(msgid): joined(msgstr) for msgid, msgstr in ENTRY.findall(text)}
    entries.pop("", None)  # the header
    return {k: v for k, v in entries.items() if v}


@pytest.mark.parametrize("language", ["de"])
def test_the_compiled_catalogue_matches_its_source_and_nothing_is_repeated(language: str) -> None:
    source = catalogue(language)
    with (LOCALE / language / "LC_MESSAGES" / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    assert len(source) > 50
    for msgid, msgstr in source.items():
        assert compiled.gettext(msgid) == msgstr, f"django.mo is stale for {msgid!r}: msgfmt it"
        for times in (2, 3):
            n = len(msgstr)
            assert not (n % times == 0 and msgstr[: n // times] * times == msgstr), msgstr
