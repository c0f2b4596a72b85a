"""Memory of a web worker: the resident memory (RSS) of one gunicorn worker after it starts and after
100 mixed page loads, for one or more checkouts (the code before a change and after), alternating.

    .venv/bin/python benchmarks/web_memory.py [--checkout PATH ...] [--loads 100] [--rounds 2] [--work-dir var/bench-web]

Each checkout serves its own site (``served_site``: SQLite, collected static files) holding the
300 Sky-T1 MATH-500 traces (../shared/data, imported with that checkout's ``import_traces``,
analysis included) and the ratings of two annotators on the steps of 10 of them, so the
annotation dashboard has agreement to compute. gunicorn runs one worker (``-w 1``), so every page
lands in the process measured. Two mixes of page loads, each on a freshly started worker:

* **everyday**: project list, trace list (as it opens, and sorted by a score), the viewer and the
  labeling page of a different trace each time, the model dashboard and its data;
* **with agreement**: the same plus the annotation dashboard and its data (Krippendorff's alpha,
  Fleiss' kappa and first-error agreement between the two annotators).

Printed per checkout and mix: the worker's RSS once it has answered its first request (/healthz),
the time of its first page, its RSS after the loads, and which libraries of the scientific stack it
has mapped. Baseline of the same run: a bare Python that imported Django and nothing else.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from itertools import cycle
from pathlib import Path

from served_site import (
    ROOT,
    children,
    log_in,
    manage,
    prepare,
    rss_mb,
    scientific_libraries,
    serve,
    sky_t1_records,
    thinkscope_record,
)

SLUG = "sky"
LABELLED_TRACES = 10

#: Two annotators rate every step of the first traces, disagreeing on every third step of one of them.
SEED_ANNOTATORS = f"""
from django.contrib.auth import get_user_model
from traces.actions.labels import LabelInput, do_save_labels
from traces.models import Membership, Project, Role, Step
project = Project.objects.get(slug={SLUG!r})
steps = list(Step.objects.filter(trace__project=project, trace__in=project.traces.order_by("pk")[:{LABELLED_TRACES}]))
for number, name in enumerate(("annotator1", "annotator2")):
    user = get_user_model().objects.create_user(name, password="benchmark password 1")
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    do_save_labels(user, [LabelInput(step=step, value=-1 if number and step.index % 3 == 0 else 1) for step in steps])
"""

BARE_DJANGO = """
import re, django
print(int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024)
"""


def prepare_site(checkout: Path, data_dir: Path) -> None:
    """A site of ``checkout`` in ``data_dir`` with the Sky-T1 traces and two annotators' ratings."""
    prepare(checkout, data_dir, [SLUG])
    sample = data_dir / "sky-t1.jsonl"
    sample.write_text("".join(json.dumps(thinkscope_record(record)) + "\n" for record in sky_t1_records(300)))
    manage(checkout, data_dir, "import_traces", str(sample), "--format", "jsonl", "--project", SLUG)
    manage(checkout, data_dir, "shell", "-c", SEED_ANNOTATORS)


def page_mix(trace_ids: list[int], with_agreement: bool) -> list[str]:
    """The paths one round of the mix visits, a different trace for each viewer and labeling page."""
    board = "/p/{slug}/dashboards/{kind}/"
    paths = ["/", f"/p/{SLUG}/traces/", f"/p/{SLUG}/traces/?score=overthinking_ratio&order=desc"]
    paths += [board.format(slug=SLUG, kind="models"), board.format(slug=SLUG, kind="models") + "data.json"]
    if with_agreement:
        paths += [board.format(slug=SLUG, kind="annotation"), board.format(slug=SLUG, kind="annotation") + "data.json"]
    traces = iter(cycle(trace_ids))
    for _ in range(3):
        trace = next(traces)
        paths += [f"/p/{SLUG}/traces/{trace}/", f"/p/{SLUG}/traces/{trace}/label/"]
    return paths


def measure(checkout: Path, data_dir: Path, loads: int, with_agreement: bool) -> dict[str, object]:
    """Start a one-worker gunicorn on the site, load ``loads`` pages of the mix, read the worker."""
    with serve(checkout, data_dir, workers=1) as site:
        (worker,) = children(site["web"].pid)
        started = rss_mb(worker)
        session = log_in(site["url"])
        first = time.perf_counter()
        session.get(site["url"] + f"/p/{SLUG}/traces/", timeout=600).raise_for_status()
        first_page = time.perf_counter() - first
        listed = session.get(site["url"] + f"/p/{SLUG}/traces/", timeout=600).text
        trace_ids = sorted({int(pk) for pk in re.findall(r"/traces/(\d+)/", listed)})
        paths = cycle(page_mix(trace_ids, with_agreement))
        for _ in range(loads):
            path = next(paths)
            response = session.get(site["url"] + path, timeout=600)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}")
        return {"started": started, "first_page": first_page, "after": rss_mb(worker), "mapped": scientific_libraries(worker)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, action="append", help="a thinkscope checkout to serve (default: this one)")
    parser.add_argument("--loads", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=ROOT / "var" / "bench-web")
    parser.add_argument("--reuse", action="store_true", help="keep the sites an earlier run prepared")
    args = parser.parse_args()
    checkouts = [path.resolve() for path in (args.checkout or [ROOT])]
    sites = {checkout: args.work_dir.resolve() / f"site-{index}" for index, checkout in enumerate(checkouts)}
    for checkout, data_dir in sites.items():
        if not (args.reuse and (data_dir / "thinkscope.sqlite3").exists()):
            subprocess.run(["rm", "-rf", str(data_dir)], check=True)
            print(f"preparing {data_dir} from {checkout} (300 traces, imported and analysed)…", flush=True)
            prepare_site(checkout, data_dir)
    bare = float(subprocess.run([sys.executable, "-c", BARE_DJANGO], capture_output=True, text=True, check=True).stdout)
    print(f"baseline: a bare Python that imported Django: {bare:.0f} MB; {args.loads} page loads a mix, Python {sys.version.split()[0]}")
    results: dict[tuple[Path, bool], list[dict[str, object]]] = {}
    for _ in range(args.rounds):
        for with_agreement in (False, True):
            for checkout, data_dir in sites.items():
                result = measure(checkout, data_dir, args.loads, with_agreement)
                results.setdefault((checkout, with_agreement), []).append(result)
                mix = "with agreement" if with_agreement else "everyday"
                print(f"{str(checkout):<40} {mix:<15} started {result['started']:5.0f} MB  first page {result['first_page']:5.2f} s"
                      f"  after {args.loads} loads {result['after']:5.0f} MB  mapped: {', '.join(result['mapped']) or 'none'}",  # type: ignore[arg-type]
                      flush=True)  # fmt: skip
    print("medians:")
    for (checkout, with_agreement), runs in results.items():
        after = statistics.median(float(run["after"]) for run in runs)  # type: ignore[arg-type]
        mix = "with agreement" if with_agreement else "everyday"
        print(f"{str(checkout):<40} {mix:<15} after {args.loads} loads {after:5.0f} MB ({after / bare:.1f}× bare Django)")


if __name__ == "__main__":
    main()
