"""The repository's scripts (deploy/, bench/: folders of scripts, not packages), loaded as
modules for tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def script_module(relative: str) -> ModuleType:
    """The script at `relative` (e.g. "deploy/nginx_conf.py"), loaded as a module."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
