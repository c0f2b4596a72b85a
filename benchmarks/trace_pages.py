"""Rendering budget of the trace pages: server time and HTML size of the viewer and the labeling page
of a 1 MB looping trace and of the comparison of two, and how long chromium takes to show them.

    .venv/bin/python benchmarks/trace_pages.py [--requests 5] [--size 1000000] [--block TEXT] [--no-browser]

Builds two traces of one problem (two models) whose thinking repeats a ~460-character paragraph
(or ``--block``) until ``--size`` characters (``tests/security/hostile_corpus.looping_record``: the
failure of a reasoning model that runs in a circle to its token limit), imports them through the
real importer with analysis (so their loops are marked), in a fresh temporary SQLite database.
Then, in the same process, through Django's test client (the whole middleware stack): ``GET`` of
the first one's viewer and labeling page and of the page comparing the two, ``--requests`` times
each, with the page's size and its count of loop marks, and the answer to the labeling page's
first-error key (``e``) on the last step, which changes every step's label, sent as labeling.js
sends it (with the steps the page shows); beside them, the baseline of the
same process: the trace row read alone. With chromium (Debian's, at /usr/bin/chromium, through
Playwright against a live server in a thread), the time from navigation until the page has loaded
and KaTeX has typeset the formulas near the screen.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from import_throughput import ROOT, setup_django
from labeling import PASSWORD, timed

sys.path.insert(0, str(ROOT / "tests" / "security"))
from hostile_corpus import LOOP_PARAGRAPH, looping_record  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SETTLED = "() => !document.querySelector('.tex:not([data-tex]), .tex[data-tex=pending], .htmx-request')"
PAGES = ("trace-detail", "trace-label")
MODELS = ("looping-model", "another-looping-model")


def import_looping_traces(size: int, block: str, data_dir: Path):
    """A project, its owner and the looping trace of each of ``MODELS``, imported with analysis;
    returns (project, user, trace ids)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from traces.models import Membership, Project, Role, Trace

    project = Project.objects.create(name="Rendering budget", slug="budget")
    user = get_user_model().objects.create_user("owner", password=PASSWORD)
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    path = data_dir / "looping.jsonl"
    records = [looping_record(size, model=model, block=block) for model in MODELS]
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    call_command("import_traces", str(path), "--format", "jsonl", "--project", project.slug, verbosity=0)
    return project, user, list(Trace.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))


def chromium_ms(url: str, session_cookie: str, live_url: str) -> float:
    """Milliseconds from navigation to a loaded page, its formulas near the screen typeset, in headless chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": session_cookie, "url": live_url}])
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url, timeout=600_000, wait_until="load")
        page.wait_for_function(SETTLED, timeout=600_000)
        elapsed = (time.perf_counter() - started) * 1000
        browser.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--block", default=LOOP_PARAGRAPH, help="the text the thinking repeats")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(None, Path(tmp))
        from django.test import Client
        from django.urls import reverse

        from traces.models import Step, Trace

        project, user, trace_ids = import_looping_traces(args.size, args.block, Path(tmp))
        trace_id = trace_ids[0]
        client = Client()
        client.force_login(user)
        baseline = timed(lambda _i: Trace.objects.get(pk=trace_id).raw_text, args.requests)
        steps = Step.objects.filter(trace_id=trace_id).count()
        print(f"looping trace of {args.size:,} characters ({steps:,} steps, block of {len(args.block)} characters),"
              f" {args.requests} requests each, Python {sys.version.split()[0]}")
        print(f"baseline (the trace row read alone): median {statistics.median(baseline):.1f} ms")
        urls = {name: reverse(name, args=[project.slug, trace_id]) for name in PAGES}
        compared = ",".join(map(str, trace_ids))
        urls["trace-compare"] = reverse("trace-compare", args=[project.slug]) + f"?traces={compared}"
        for name, url in urls.items():
            body = client.get(url).content
            samples = timed(lambda _i, url=url: client.get(url), args.requests)
            marks, loop_marks = body.count(b'class="mark '), len(re.findall(rb'class="mark [^"]*mark-loop', body))
            rows = len(re.findall(rb'<li class="step[ "]|<div class="cmp-cell[ "]', body))
            print(
                f"{name:<13} server median {statistics.median(samples):8.1f} ms  HTML {len(body) / 1e6:6.2f} MB"
                f"  marks {marks:,} (loop {loop_marks:,})  rows {rows:,}"
            )
        print_first_error_answer(client, project.slug, trace_id, client.get(urls["trace-label"]).content)
        if not args.no_browser and Path(CHROMIUM).exists():
            print_browser_times(client, urls)


def print_first_error_answer(client, slug: str, trace_id: int, page: bytes) -> None:
    """Time the first-error key on the trace's last step (every label changes) and size its answer."""
    from django.urls import reverse

    from traces.models import Step

    last = Step.objects.filter(trace_id=trace_id).order_by("-index").first()
    numbers = [int(number) for number in re.findall(rb'<li class="step[^"]*" id="step-(\d+)"', page)]
    shown = ",".join(f"{number}-{number}" for number in numbers)
    data = {"action": "first_error", "step": last.pk, "shown": shown}
    url = reverse("trace-label-step", args=[slug, trace_id])
    started = time.perf_counter()
    answer = client.post(url, data, HTTP_HX_REQUEST="true").content
    elapsed = (time.perf_counter() - started) * 1000
    cells = answer.count(b'class="my-label" id="my-label-')
    print(f"first-error key server {elapsed:8.1f} ms  answer {len(answer) / 1e6:6.3f} MB  label cells {cells:,}")


def print_browser_times(client, urls: dict[str, str]) -> None:
    """Serve the database on a live server thread and time each page in chromium."""
    from django.test.testcases import LiveServerThread, _StaticFilesHandler

    server = LiveServerThread("127.0.0.1", _StaticFilesHandler, connections_override=None, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    live_url = f"http://127.0.0.1:{server.port}"
    cookie = client.cookies["sessionid"].value
    try:
        for name, url in urls.items():
            print(f"{name:<13} chromium load {chromium_ms(live_url + url, cookie, live_url) / 1000:8.1f} s")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
