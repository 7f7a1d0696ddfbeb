"""The production static files storage: WhiteNoise's hashed, compressed files, with the pages'
ES modules (static/supportdesk/) linked by their hashed names too.

`collectstatic` rewrites each of our modules' relative `import ... from "./x.js";` to the
hashed name, with Django's own patterns for it (`support_js_module_import_aggregation`), so a
module and everything it imports are cached forever together and a release never mixes old and
new modules. Only our files: Django's switch would apply the patterns to every JavaScript file,
and third-party ones trip them (htmx's extensions have `import("../htmx")` in JSDoc comments,
which collectstatic then fails to find).

Django matches imports with regular expressions: write them as `import {...} from "./path.js";`
or `import "./path.js";` (with the semicolon), and keep the module graph free of cycles (a
file's hash needs those of everything it imports). tests/test_staticfiles.py collects the
files and checks the result.
"""

from __future__ import annotations

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage

OUR_MODULES = "supportdesk/*.js"  # fnmatch: `*` matches `/` too, so every folder below


class ModuleManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    patterns = (
        *CompressedManifestStaticFilesStorage.patterns,
        (OUR_MODULES, ManifestStaticFilesStorage._js_module_import_aggregation_patterns[1]),
    )
