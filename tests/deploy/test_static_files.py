"""Static files as a deployment serves them (app/static_files.py).

After ``collectstatic`` (the docker-compose ``migrate`` service, ``scripts/serve``) pages name files
by a hash of their content, which WhiteNoise sends compressed and cacheable for a year or more;
before it (a fresh checkout, the test suite's data directories) pages name the source files, which
are served as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.core.management import call_command
from django.test import Client
from django.urls import reverse

YEAR = 365 * 24 * 3600


def stylesheet_url(client: Client) -> str:
    """The URL of thinkscope's stylesheet in the login page."""
    page = client.get(reverse("login")).content.decode()
    found = re.search(r'<link rel="stylesheet" href="(/static/css/thinkscope[^"]*)"', page)
    assert found, "the login page links no thinkscope stylesheet"
    return found.group(1)


def test_collected_files_are_hashed_compressed_and_cached_for_a_year(tmp_path: Path, settings) -> None:
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    call_command("collectstatic", "--noinput", verbosity=0)

    client = Client()
    url = stylesheet_url(client)
    assert re.fullmatch(r"/static/css/thinkscope\.[0-9a-f]{12}\.css", url)
    response = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    cache_control = response["Cache-Control"]
    max_age = re.search(r"max-age=(\d+)", cache_control)
    assert max_age and int(max_age.group(1)) >= YEAR and "immutable" in cache_control
    # KaTeX's stylesheet names its fonts by their hashed names too (collectstatic rewrote it).
    katex_css = next((tmp_path / "staticfiles" / "vendor" / "katex").glob("katex.min.*.css")).read_text()
    fonts = re.findall(r"url\(\"?(fonts/[^)\"]+)\"?\)", katex_css)
    assert fonts and all(re.search(r"\.[0-9a-f]{12}\.woff2$", font) for font in fonts)


def test_before_collectstatic_pages_name_the_source_files(tmp_path: Path, settings) -> None:
    settings.STATIC_ROOT = tmp_path / "never-collected"
    settings.STATIC_ROOT.mkdir()

    client = Client()
    url = stylesheet_url(client)
    assert url == "/static/css/thinkscope.css"
    assert client.get(url).status_code == 200
