"""Load test (issue 9 item 5): simulated annotators and dashboard browsers against gunicorn + PostgreSQL.

    .venv/bin/python benchmarks/load/run_load.py --database-url postgres://postgres@127.0.0.1:5432/hs_load \\
        [--annotators 50] [--browsers 5] [--duration 120] [--workers 4] [--ramp 30] \\
        [--annotator-pause 2,6] [--browser-pause 3,10]

Creates a fresh database, seeds one project with traces and a member per simulated person, starts
gunicorn on 127.0.0.1 (only), and runs threads with ``requests`` (locust would add gevent and a web UI
for what is a bounded loop of HTTP calls): each annotator logs in through the form and saves step
labels through the labeling endpoint (htmx POST with the CSRF token), each browser opens the trace
list, a trace viewer and the dashboards. Every loop stops at ``--duration`` seconds. It prints
requests/s, p50/p95/p99 per kind of request and the errors, then checks that every acknowledged
label (the last value each annotator saved on each step) is in the database.

Pacing: each person pauses between requests for a time drawn uniformly from ``--annotator-pause`` /
``--browser-pause`` (seconds). The defaults are a fast keyboard annotator (2–6 s per step: reading a
step of a reasoning trace takes longer) and a person glancing at a page (3–10 s); ``--annotator-pause
0.2,0.6 --browser-pause 0.5,1.5`` is a stress setting, ~5× what 50 people can click. People arrive
spread over ``--ramp`` seconds (each logs in first: a password hash is ~0.3 s of CPU), and the
figures count the requests made after the last one arrived, so the logins of 55 people in the same
second are not read as label-save latency; the ramp's own requests are printed apart.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "load-test password 1"
SLUG = "load"


def setup_django(database_url: str, data_dir: Path) -> None:
    os.environ.update(
        DATABASE_URL=database_url, SECRET_KEY="load-" + "x" * 60, THINKSCOPE_HTTPS="0",
        THINKSCOPE_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="app.settings",
        THINKSCOPE_LOGIN_FAILURE_LIMIT="1000",
    )  # fmt: skip
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def fresh_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def seed(people: int, traces: int) -> tuple[list[int], dict[int, list[int]]]:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from traces.actions.store import store_traces
    from traces.formats.base import ParsedStep, ParsedTrace
    from traces.models import Membership, Project, Role, Run, RunKind, Step

    call_command("migrate", verbosity=0)
    project = Project.objects.create(name="Load", slug=SLUG)
    password = make_password(PASSWORD)  # hashed once: the same hash for everyone
    users = User.objects.bulk_create(User(username=f"p{i}", password=password) for i in range(people))
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="load.jsonl")
    parsed = [
        ParsedTrace(line_no=i, prompt=f"Problem {i}: what is {i} * 3?", reference_answer=str(3 * i), text="",
                    model_name=f"model-{i % 3}",
                    steps=[ParsedStep(text=f"Step {j}: {i} * 3 = {3 * i}.") for j in range(8)])
        for i in range(traces)
    ]  # fmt: skip
    ids = store_traces(project, run, parsed).trace_ids
    steps: dict[int, list[int]] = defaultdict(list)
    for trace_id, step_id in Step.objects.filter(trace_id__in=ids).order_by("index").values_list("trace_id", "id"):
        steps[trace_id].append(step_id)
    return ids, steps


class Stats:
    """Request times and errors per kind, recorded apart during the ramp and after it."""

    def __init__(self, steady_from: float) -> None:
        self.steady_from = steady_from
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.acknowledged: dict[tuple[str, int], int] = {}  # (username, step) -> last acknowledged value

    def record(self, kind: str, seconds: float, ok: bool) -> None:
        if time.monotonic() < self.steady_from:
            kind = f"{kind} (ramp)"
        with self.lock:
            self.times[kind].append(seconds)
            if not ok:
                self.errors[kind] += 1


def log_in(base: str, username: str, stats: Stats) -> requests.Session:
    session = requests.Session()
    page = session.get(base + "/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    start = time.perf_counter()
    answer = session.post(base + "/accounts/login/", {"username": username, "password": PASSWORD,
                          "csrfmiddlewaretoken": token}, headers={"Referer": base + "/accounts/login/"},
                          allow_redirects=False, timeout=30)  # fmt: skip
    stats.record("login", time.perf_counter() - start, answer.status_code == 302)
    return session


Pause = tuple[float, float]


def annotator(
    base: str, username: str, traces: list[int], steps: dict[int, list[int]], stop: float, stats: Stats,
    arrive: float, pause: Pause,
) -> None:  # fmt: skip
    rng = random.Random(username)
    time.sleep(arrive)
    session = log_in(base, username, stats)
    while time.monotonic() < stop:
        trace = rng.choice(traces)
        step, value = rng.choice(steps[trace]), rng.choice((-1, 0, 1))
        url = f"{base}/p/{SLUG}/traces/{trace}/label/steps/"
        start = time.perf_counter()
        try:
            headers = {"X-CSRFToken": session.cookies["csrftoken"], "HX-Request": "true", "Referer": url}
            answer = session.post(url, {"action": "rate", "step": step, "value": value}, headers=headers, timeout=30)
            ok = answer.status_code == 200
        except requests.RequestException:
            ok = False
        stats.record("label save", time.perf_counter() - start, ok)
        if ok:
            with stats.lock:
                stats.acknowledged[(username, step)] = value
        time.sleep(rng.uniform(*pause))  # a person reading the next step


def browser(
    base: str, username: str, traces: list[int], stop: float, stats: Stats, arrive: float, pause: Pause
) -> None:
    rng = random.Random(username)
    time.sleep(arrive)
    session = log_in(base, username, stats)
    pages = [("trace list", f"/p/{SLUG}/traces/")]
    for board in ("annotation", "models"):
        pages += [(f"{board} dashboard", f"/p/{SLUG}/dashboards/{board}/"),
                  (f"{board} data", f"/p/{SLUG}/dashboards/{board}/data.json")]  # fmt: skip
    while time.monotonic() < stop:
        kind, path = rng.choice([*pages, ("trace viewer", f"/p/{SLUG}/traces/{rng.choice(traces)}/")])
        start = time.perf_counter()
        try:
            ok = session.get(base + path, timeout=30).status_code == 200
        except requests.RequestException:
            ok = False
        stats.record(kind, time.perf_counter() - start, ok)
        time.sleep(rng.uniform(*pause))


def pause_range(text: str) -> Pause:
    """``"2,6"`` -> (2.0, 6.0): the range of a person's pause between requests, in seconds."""
    low, _, high = text.partition(",")
    try:
        pause = float(low), float(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers of seconds like 2,6 — got {text!r}") from None
    if not 0 <= pause[0] <= pause[1]:
        raise argparse.ArgumentTypeError(f"expected 0 <= low <= high, got {text!r}")
    return pause


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/hs_load")
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--browsers", type=int, default=5)
    parser.add_argument("--duration", type=float, default=120, help="seconds of load (bounded)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--ramp", type=float, default=30, help="seconds over which people arrive (not counted)")
    parser.add_argument("--annotator-pause", type=pause_range, default=(2.0, 6.0), metavar="LOW,HIGH",
                        help="seconds an annotator pauses between label saves (default 2,6)")
    parser.add_argument("--browser-pause", type=pause_range, default=(3.0, 10.0), metavar="LOW,HIGH",
                        help="seconds a dashboard browser pauses between pages (default 3,10)")
    args = parser.parse_args()
    data_dir = Path("/tmp/thinkscope-load")
    fresh_database(args.database_url)
    setup_django(args.database_url, data_dir)
    traces, steps = seed(args.annotators + args.browsers, 200)
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app.wsgi", "-b", f"127.0.0.1:{args.port}", "-w", str(args.workers),
         "--threads", "2", "--log-level", "warning"], cwd=REPO, env=os.environ.copy(),
    )  # fmt: skip
    try:
        for _ in range(120):  # gunicorn's first requests import the app: wait until it answers
            try:
                requests.get(base + "/accounts/login/", timeout=30)
                break
            except requests.RequestException:
                time.sleep(0.5)
        people = args.annotators + args.browsers
        arrivals = [args.ramp * i / max(1, people - 1) for i in range(people)]
        stats = Stats(steady_from=time.monotonic() + args.ramp)
        stop = time.monotonic() + args.ramp + args.duration
        threads = [threading.Thread(target=annotator, args=(base, f"p{i}", traces, steps, stop, stats, arrivals[i],
                                                            args.annotator_pause)) for i in range(args.annotators)]
        threads += [threading.Thread(target=browser, args=(base, f"p{i}", traces, stop, stats, arrivals[i],
                                                           args.browser_pause)) for i in range(args.annotators, people)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.ramp + args.duration + 120)
        elapsed = time.monotonic() - began - args.ramp
    finally:
        server.terminate()
        server.wait(timeout=30)
    total = sum(len(v) for kind, v in stats.times.items() if not kind.endswith("(ramp)"))
    print(f"{args.annotators} annotators (pause {args.annotator_pause} s) + {args.browsers} browsers (pause "
          f"{args.browser_pause} s), {args.ramp:.0f} s ramp + {elapsed:.0f} s, gunicorn -w {args.workers}")
    print(f"requests after the ramp: {total}, {total / elapsed:.1f}/s; errors (ramp included): "
          f"{sum(stats.errors.values())}")
    print(f"{'request':<16}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind, times in sorted(stats.times.items()):
        p50, p95, p99 = (1000 * percentile(times, q) for q in (50, 95, 99))
        print(f"{kind:<16}{len(times):>7}{p50:>9.0f}{p95:>9.0f}{p99:>9.0f}{stats.errors[kind]:>8}")
    from traces.models import HUMAN, Label

    stored = {
        (u, s): v for u, s, v in Label.objects.filter(source=HUMAN).values_list("user__username", "step_id", "value")
    }
    lost = {key: value for key, value in stats.acknowledged.items() if stored.get(key) != value}
    print(f"acknowledged labels: {len(stats.acknowledged)}, in the database with their last value: "
          f"{len(stats.acknowledged) - len(lost)}, lost or wrong: {len(lost)}")  # fmt: skip
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
