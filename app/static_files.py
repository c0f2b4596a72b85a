"""How static files are stored and named: WhiteNoise's compressed manifest storage.

``collectstatic`` copies every file under a name that holds a hash of its content
(``css/thinkscope.3f2a….css``), writes a gzip copy beside each text file and a manifest that maps
the plain names to the hashed ones; ``{% static %}`` writes the hashed name into the page and
WhiteNoise serves such a file compressed and cacheable for ten years ("immutable"), since a new
content gets a new name. The docker-compose ``migrate`` service and ``scripts/serve`` run
``collectstatic`` before the web process starts.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFiles(CompressedManifestStaticFilesStorage):
    """WhiteNoise's storage, except before the first ``collectstatic``: with no manifest yet (a
    fresh checkout, the test suite's data directories), files keep their own names and are served
    from the source folders (WhiteNoise's finders, the test live server). Once a manifest exists, a
    file missing from it is an error, as with WhiteNoise's own storage: a deployment that skipped
    ``collectstatic`` after an upgrade fails loudly instead of serving stale files."""

    def stored_name(self, name: str) -> str:
        if not self.hashed_files:
            return name
        return super().stored_name(name)
