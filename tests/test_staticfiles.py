"""The pages' scripts are ES modules (static/supportdesk/, docs/ARCHITECTURE.md "The pages'
scripts"): each page loads one entry module, which imports the rest. Production serves them by
hashed names (supportdesk/staticfiles.py): every import must then name a hashed file too, or a
release would mix a new module with an old one still cached for a year."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
MODULES = STATIC / "supportdesk"
LONGEST = 300  # lines: a longer module says why at its top
# What an import names: `import {...} from "./x.js";`, `export ... from "./x.js";`,
# `import "./x.js";` (the forms supportdesk/staticfiles.py rewrites).
IMPORT = re.compile(r"""(?:\bfrom|^import)\s*["']([^"']+)["']\s*;""", re.MULTILINE)
ANY_IMPORT = re.compile(r"^\s*import\b", re.MULTILINE)  # each import statement starts a line
SCRIPT_TAG = re.compile(r"<script\b[^>]*\{% static '(supportdesk/[^']+\.js)' %\}[^>]*>")
PRELOAD = re.compile(
    r"<link rel=\"modulepreload\" href=\"\{% static '(supportdesk/[^']+\.js)' %\}\">"
)


def our_modules() -> list[Path]:
    return sorted(MODULES.rglob("*.js"))


def imports(path: Path) -> list[Path]:
    return [(path.parent / name).resolve() for name in IMPORT.findall(path.read_text())]


def entry_modules() -> dict[str, list[str]]:
    """Each template that loads one of our scripts: the tags that load them."""
    found: dict[str, list[str]] = {}
    for template in (ROOT / "templates").rglob("*.html"):
        tags = SCRIPT_TAG.findall(template.read_text())
        if tags:
            found[str(template.relative_to(ROOT))] = tags
    return found


def test_every_script_tag_of_ours_loads_a_module() -> None:
    """A classic <script> would see `import` as a syntax error and run nothing of the page."""
    for template in (ROOT / "templates").rglob("*.html"):
        for tag in re.findall(r"<script\b[^>]*supportdesk/[^>]*>", template.read_text()):
            assert 'type="module"' in tag, f"{template}: {tag}"
    assert entry_modules(), "no template loads a module: the pattern above is stale"


def test_every_import_names_a_module_that_exists_in_the_form_collectstatic_rewrites() -> None:
    for module in our_modules():
        text = module.read_text()
        assert len(IMPORT.findall(text)) == len(ANY_IMPORT.findall(text)), (
            f'{module}: an import not written as `import ... from "./x.js";`'
        )
        for target in imports(module):
            assert target.is_file(), f"{module} imports {target}, which does not exist"
            assert target.is_relative_to(MODULES), f"{module} imports {target}: not ours"


def reached_from(entries: list[str]) -> set[Path]:
    """The modules `entries` (paths below static/) import, directly or not, and themselves."""
    reached: set[Path] = set()
    todo = [STATIC / src for src in entries]
    while todo:
        module = todo.pop().resolve()
        if module not in reached:
            reached.add(module)
            todo.extend(imports(module))
    return reached


def test_every_module_is_loaded_by_a_page() -> None:
    """A module no page reaches is dead code that still looks maintained."""
    entries = [src for tags in entry_modules().values() for src in tags]
    assert set(our_modules()) - reached_from(entries) == set()


PARTIAL = re.compile(r"{% partialdef (\w+) %}(.*?){% endpartialdef %}", re.DOTALL)
INCLUDE = re.compile(r'{% include "([^"#]+)#(\w+)" %}')


def preloads(name: str) -> set[str]:
    """The modules the template `name` preloads itself: its partials' preloads count only where
    a template includes them ("base.html#chat_modules")."""
    text = (ROOT / "templates" / name).read_text()
    own = PARTIAL.sub("", text)
    found = set(PRELOAD.findall(own))
    for template, partial in INCLUDE.findall(own):
        partials = dict(PARTIAL.findall((ROOT / "templates" / template).read_text()))
        found |= set(PRELOAD.findall(partials[partial]))
    return found


def test_each_page_preloads_every_module_its_entries_import() -> None:
    """Without a preload, the browser learns of a module only once its importer has arrived:
    one round trip per level of imports (six for the widget) before the page's script runs."""
    base = (ROOT / "templates" / "base.html").read_text()
    for name, tags in entry_modules().items():
        template = name.removeprefix("templates/")
        text = (ROOT / name).read_text()
        entries, preloaded = set(tags), preloads(template)
        if '{% extends "base.html" %}' in text:
            entries |= set(SCRIPT_TAG.findall(base))
            preloaded |= preloads("base.html")
        imported = {
            module.relative_to(STATIC).as_posix() for module in reached_from(sorted(entries))
        }
        assert preloaded == imported - entries, (
            f"{name}: add {sorted(imported - entries - preloaded)}, "
            f"remove {sorted(preloaded - imported)}"
        )


def test_no_module_is_long_without_saying_why_at_its_top() -> None:
    for module in our_modules():
        lines = module.read_text().splitlines()
        if len(lines) > LONGEST:
            top = "\n".join(lines[:15]).lower()
            why = f"{module}: {len(lines)} lines; split it, or say at its top why it is longer"
            assert f"over {LONGEST} lines because" in top, why


def test_the_heartbeat_timing_has_one_source() -> None:
    """The socket's ping interval and dead-socket timeout are defined once (realtime/socket.js
    heartbeatTiming); the dashboard's banner reads them from there."""
    defining = [m for m in our_modules() if "data-heartbeat-ms" in m.read_text()]
    assert [m.relative_to(MODULES).as_posix() for m in defining] == ["realtime/socket.js"]
    assert [
        m.relative_to(MODULES).as_posix()
        for m in our_modules()
        if re.search(r"\bheartbeatMs\b|\bHEARTBEAT_MS\b", m.read_text())
    ] == ["realtime/socket.js"]


def collect_static(root: Path) -> None:
    """`collectstatic` as production runs it (docs/DEPLOY.md), into `root` as STATIC_ROOT."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "STATIC_MANIFEST": "1", "STATIC_ROOT": str(root)},
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    collect_static(root)
    return root


def test_collected_modules_import_each_other_by_their_hashed_names(collected: Path) -> None:
    manifest = json.loads((collected / "staticfiles.json").read_text())["paths"]
    hashed_modules = {
        name: collected / hashed
        for name, hashed in manifest.items()
        if name.startswith("supportdesk/") and name.endswith(".js")
    }
    assert len(hashed_modules) == len(our_modules())
    hashed_names = {path.resolve() for path in hashed_modules.values()}
    for name, path in hashed_modules.items():
        source = (MODULES.parent / name).read_text()
        written = IMPORT.findall(path.read_text())
        assert len(written) == len(IMPORT.findall(source)), name
        for target in imports(path):
            assert target in hashed_names, f"{name} imports {target}: not a hashed module"


def test_no_page_asks_with_the_browsers_own_dialogs() -> None:
    """confirm(), alert() and prompt() stop the page and look foreign to it: a question is
    asked in the page (confirm.js answers every hx-confirm), so a template with hx-confirm must
    load an entry that installs it."""
    native = re.compile(r"\b(?:confirm|alert|prompt)\((?!\))")  # a call, not "confirm()" in prose
    for module in our_modules():
        assert not native.search(module.read_text()), f"{module}: the browser's own dialog"
    confirm = (MODULES / "confirm.js").resolve()
    entries = entry_modules()
    asking = [t for t in (ROOT / "templates").rglob("*.html") if "hx-confirm" in t.read_text()]
    assert asking, "no hx-confirm left: this test's second half checks nothing"
    for template in asking:
        name = str(template.relative_to(ROOT))
        assert confirm in reached_from(entries.get(name, [])), (
            f"{name}: hx-confirm without confirm.js"
        )
