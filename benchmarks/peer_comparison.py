"""thinkscope beside Label Studio and beside a static page: importing traces, opening a trace page,
and the memory of the idle servers, measured interleaved on this machine.

    .venv/bin/python benchmarks/peer_comparison.py [--traces 300] [--repeat 3] [--trace-line N]
        [--label-studio-venv var/peer/label-studio-venv] [--no-label-studio] [--work-dir var/peer]
        [--checkout PATH]

Data: the first ``--traces`` Sky-T1 MATH-500 traces (../shared/data, read in place; ~60 steps on
average). The trace page timed is that of ``--trace-line`` (default: the longest of them, 15.3 kB).

* **thinkscope** (this checkout, or ``--checkout``) as docker-compose.yml runs it, on the embedded
  database (SQLite) of a fresh data directory: ``collectstatic``, gunicorn ``-w 4`` (WhiteNoise serves the static files) and a Celery
  worker of the ``default`` queue. Traces are imported through the API as a team imports them
  (``POST /api/imports/``, timed until the job has stored and analysed them all).
* **Label Studio 1.23.2** in its own virtualenv (``--label-studio-venv``; created with pip when it
  is missing, never in thinkscope's), started with ``label-studio start`` on SQLite on 127.0.0.1 (its
  data directory is kept between runs: its first start migrates for minutes); a new project with a
  text labeling config each round; tasks imported through its API (``POST
  /api/projects/<id>/import``, timed until the project holds them all). The trace page is the
  task opened in the data manager (``/projects/<id>/data?task=<id>``).
* **static**: an HTML file of the same text (the problem, then the completion, one ``<p>`` per
  paragraph) served by thinkscope's gunicorn (WhiteNoise) from its static root.

Each of ``--repeat`` rounds imports into a new project of each tool, then, in Debian's chromium
(/usr/bin/chromium, Playwright, a fresh browser context per tool and round: logged in, then the
page opened twice, first view and revisit), times the page of each tool in a rotating order: from
navigation until the trace's first and last lines are in the page, in the first animation frame
that has both (so a long task before the first paint counts), and counts its elements once it
has settled. The lines are the first and last lines of the completion that hold a run of 24
plain characters (no LaTeX, no markup: formulas are typeset, so their text changes) found nowhere
else in it. RSS idle:
each server's processes together (thinkscope: gunicorn's master and workers, the Celery worker
apart) ten seconds after the last page.

Prints each measurement, then the medians and the ratios: Label Studio / thinkscope and
thinkscope / static. On a machine where Label Studio cannot be installed or started,
``--no-label-studio`` measures thinkscope against the static page alone.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from served_site import (
    PASSWORD,
    ROOT,
    USER,
    free_port,
    log_in,
    prepare,
    serve,
    site_env,
    sky_t1_records,
    stop,
    thinkscope_record,
    tree_rss_mb,
    wait_until_answering,
)

CHROMIUM = "/usr/bin/chromium"
LABEL_STUDIO = "label-studio==1.23.2"
# Label Studio 1.23.2 asks for sentry-sdk>=2.16 with no upper bound, and sentry-sdk 3 refuses the
# option it starts with ("Unknown option 'send_default_pii'"): the last 2.x is installed beside it.
LABEL_STUDIO_PINS = ("sentry-sdk<3",)
LS_EMAIL = "bench@example.com"
LS_TOKEN = "0123456789abcdef0123456789abcdef01234567"
LS_CONFIG = """<View>
  <Header value="$problem"/>
  <Text name="trace" value="$trace"/>
  <Choices name="verdict" toName="trace"><Choice value="correct"/><Choice value="wrong"/></Choices>
</View>"""
PLAIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9 ,.;:'()-]{23,}")

#: Runs in the page before its own scripts: records when both probes are first in the page, in an
#: animation frame (the frame that paints them).
WATCH_LINES = """(() => {
  const probes = PROBES;
  function check() {
    const text = document.body ? document.body.textContent : "";
    if (probes.every((probe) => text.includes(probe))) {
      window.__linesShownAt = performance.now();
      return;
    }
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})();"""


def probes(completion: str) -> list[str]:
    """The first and the last line of ``completion`` that hold a run of plain characters found
    nowhere else in it (a loop repeats lines), as that run."""
    runs = [found.group(0)[:40] for line in completion.splitlines() if (found := PLAIN_RUN.search(line))]
    unique = [run for run in runs if completion.count(run) == 1]
    return [unique[0], unique[-1]]


def static_page(problem: str, completion: str) -> str:
    """The problem and the completion as a plain HTML page, one paragraph per blank-line block."""
    paragraphs = [block for block in re.split(r"\n\s*\n", completion) if block.strip()]
    body = "".join(f"<p>{html.escape(block)}</p>\n" for block in paragraphs)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Trace</title></head>\n'
            f"<body><h1>Problem</h1>\n<p>{html.escape(problem)}</p>\n<h2>Trace</h2>\n{body}</body></html>\n")  # fmt: skip


# --- thinkscope -------------------------------------------------------------------------------


def api_token(url: str) -> str:
    """A new API token of the benchmark's user, issued in its browser session."""
    session = log_in(url)
    headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": url + "/"}
    answer = session.post(url + "/api/auth/token/", headers=headers, timeout=60)
    answer.raise_for_status()
    return str(answer.json()["token"])


def thinkscope_import(url: str, token: str, project: str, path: Path) -> float:
    """Seconds from the upload of ``path`` until its import job has succeeded."""
    headers = {"Authorization": f"Token {token}"}
    started = time.perf_counter()
    with path.open("rb") as upload:
        answer = requests.post(url + "/api/imports/", headers=headers, timeout=600, files={"file": upload},
                               data={"project": project, "format": "jsonl", "think_format": "sky_t1"})  # fmt: skip
    answer.raise_for_status()
    run = answer.json()["id"]
    while True:
        status = requests.get(url + f"/api/runs/{run}/", headers=headers, timeout=60).json()["status"]
        if status == "succeeded":
            return time.perf_counter() - started
        if status in ("failed", "cancelled"):
            raise RuntimeError(f"thinkscope's import job {run} {status}")
        time.sleep(0.2)


def thinkscope_trace_id(checkout: Path, data_dir: Path, project: str, problem_id: str) -> int:
    code = (f"from traces.models import Trace; "
            f"print(Trace.objects.get(project__slug={project!r}, problem__external_id={problem_id!r}).pk)")  # fmt: skip
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=checkout, capture_output=True, text=True,
                          env=site_env(data_dir), check=True)  # fmt: skip
    return int(done.stdout.strip().splitlines()[-1])


# --- Label Studio -----------------------------------------------------------------------------


def ensure_label_studio(venv: Path) -> Path:
    """The ``label-studio`` program of ``venv``, installing Label Studio there first when missing."""
    program = venv / "bin" / "label-studio"
    if not program.exists():
        print(f"installing {LABEL_STUDIO} into {venv} (its own virtualenv)…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LABEL_STUDIO, *LABEL_STUDIO_PINS], check=True)
    return program


@contextmanager
def label_studio(program: Path, data_dir: Path) -> Iterator[dict[str, Any]]:
    """Label Studio on 127.0.0.1 with SQLite in ``data_dir``; yields {"url", "process"}."""
    port = free_port()
    env = {"PATH": f"{program.parent}:/usr/bin:/bin", "HOME": str(data_dir), "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir)}
    log = (data_dir / "label-studio.log").open("ab")
    process = subprocess.Popen(
        [str(program), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port), "--data-dir",
         str(data_dir), "--username", LS_EMAIL, "--password", PASSWORD, "--user-token", LS_TOKEN,
         "--enable-legacy-api-token"], env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url + "/user/login/", process, seconds=3600)  # the first start migrates its database
        yield {"url": url, "process": process}
    finally:
        stop(process)
        log.close()


def ls_import(url: str, records: list[dict[str, Any]], title: str) -> tuple[float, int, int]:
    """Create a project, import ``records`` as tasks; (seconds until it holds them all, project id, first task id)."""
    headers = {"Authorization": f"Token {LS_TOKEN}"}
    project = requests.post(url + "/api/projects", headers=headers, json={"title": title, "label_config": LS_CONFIG},
                            timeout=120)  # fmt: skip
    project.raise_for_status()
    pid = project.json()["id"]
    tasks = [{"data": {"problem": record["question"], "trace": record["code"][0]}} for record in records]
    started = time.perf_counter()
    requests.post(url + f"/api/projects/{pid}/import", headers=headers, json=tasks, timeout=3600).raise_for_status()
    while requests.get(url + f"/api/projects/{pid}", headers=headers, timeout=60).json()["task_number"] < len(tasks):
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    listed = requests.get(url + f"/api/tasks?project={pid}&page_size=1", headers=headers, timeout=60).json()
    return elapsed, pid, int(listed["tasks"][0]["id"])


# --- the browser ------------------------------------------------------------------------------


def log_in_page(context: Any, site: str, url: str) -> None:
    page = context.new_page()
    if site == "thinkscope":
        page.goto(url + "/accounts/login/")
        page.fill("#id_username", USER)
        page.fill("#id_password", PASSWORD)
        page.press("#id_password", "Enter")
        page.wait_for_url(lambda address: "/accounts/login/" not in address, timeout=120_000)
    elif site == "label-studio":
        page.goto(url + "/user/login/")
        page.fill("input[name=email]", LS_EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url(lambda address: "/user/login" not in address, timeout=120_000)
    page.close()


def open_and_time(context: Any, url: str) -> tuple[float, int]:
    """(ms until the probes are in a painted frame, elements once settled) of one visit of ``url``."""
    page = context.new_page()
    page.goto(url, wait_until="commit", timeout=300_000)
    page.wait_for_function("() => window.__linesShownAt !== undefined", timeout=300_000, polling=100)
    shown = page.evaluate("window.__linesShownAt")
    page.wait_for_load_state("load", timeout=300_000)
    page.wait_for_timeout(1500)
    elements = page.evaluate("document.querySelectorAll('*').length")
    page.close()
    return float(shown), int(elements)


def time_pages(urls: dict[str, str], logins: dict[str, str], lines: list[str], rounds: int) -> dict[str, list[dict[str, float]]]:
    """Open each site's page ``rounds`` times in rotating order; each round a fresh context per site."""
    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict[str, float]]] = {site: [] for site in urls}
    order = list(urls)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for number in range(rounds):
            for site in order[number % len(order) :] + order[: number % len(order)]:
                context = browser.new_context(viewport={"width": 1360, "height": 900})
                context.add_init_script(WATCH_LINES.replace("PROBES", json.dumps(lines)))
                log_in_page(context, site, logins.get(site, ""))
                first, elements = open_and_time(context, urls[site])
                again, _ = open_and_time(context, urls[site])
                context.close()
                results[site].append({"first": first, "again": again, "elements": elements})
                print(f"  round {number + 1} {site:<13} first view {first:7.0f} ms  revisit {again:7.0f} ms  "
                      f"{elements:,} elements", flush=True)  # fmt: skip
        browser.close()
    return results


# --- the run ----------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trace-line", type=int, help="1-based line of the trace whose page is timed (default: the longest)")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "var" / "peer")
    parser.add_argument("--label-studio-venv", type=Path, default=ROOT / "var" / "peer" / "label-studio-venv")
    parser.add_argument("--no-label-studio", action="store_true", help="thinkscope against the static page only")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the thinkscope checkout to serve (default: this one)")
    args = parser.parse_args()

    records = sky_t1_records(args.traces)
    line = args.trace_line or 1 + max(range(len(records)), key=lambda i: len(records[i]["code"][0]))
    record = records[line - 1]
    lines = probes(record["code"][0])
    work = args.work_dir.resolve()
    ts_dir, ls_dir = work / "thinkscope", work / "label-studio"
    shutil.rmtree(ts_dir, ignore_errors=True)  # Label Studio's is kept: its first start migrates for minutes
    for folder in (ts_dir, ls_dir):
        folder.mkdir(parents=True, exist_ok=True)
    jsonl = work / "sky-t1.jsonl"
    jsonl.write_text("".join(json.dumps(thinkscope_record(sky)) + "\n" for sky in records), encoding="utf-8")
    print(f"{len(records)} Sky-T1 traces ({jsonl.stat().st_size / 1e6:.1f} MB as JSONL); page: line {line} "
          f"({len(record['code'][0].encode()) / 1000:.1f} kB), lines {lines}; Python {sys.version.split()[0]}", flush=True)

    projects = [f"peer-{number + 1}" for number in range(args.repeat)]
    checkout = args.checkout.resolve()
    prepare(checkout, ts_dir, projects)
    (ts_dir / "staticfiles" / "peer").mkdir()
    (ts_dir / "staticfiles" / "peer" / "trace.html").write_text(static_page(record["question"], record["code"][0]), encoding="utf-8")
    program = None if args.no_label_studio else ensure_label_studio(args.label_studio_venv.resolve())

    with serve(checkout, ts_dir, workers=4, celery=True) as ts, (
        label_studio(program, ls_dir) if program else _nothing()
    ) as ls:
        token = api_token(ts["url"])
        imports: dict[str, list[float]] = {"thinkscope": [], "label-studio": []}
        ls_page = ""
        for number, project in enumerate(projects):
            imports["thinkscope"].append(thinkscope_import(ts["url"], token, project, jsonl))
            if ls:
                seconds, pid, first_task = ls_import(ls["url"], records, f"Sky-T1 {number + 1}")
                imports["label-studio"].append(seconds)
                ls_page = f"{ls['url']}/projects/{pid}/data?task={first_task + line - 1}"
            print(f"  round {number + 1} import of {len(records)} traces: thinkscope {imports['thinkscope'][-1]:.1f} s"
                  + (f", Label Studio {imports['label-studio'][-1]:.1f} s" if ls else ""), flush=True)  # fmt: skip
        trace_id = thinkscope_trace_id(checkout, ts_dir, projects[0], str(record["idx"]))
        urls = {"thinkscope": f"{ts['url']}/p/{projects[0]}/traces/{trace_id}/", "static": f"{ts['url']}/static/peer/trace.html"}
        logins = {"thinkscope": ts["url"]}
        if ls:
            urls["label-studio"], logins["label-studio"] = ls_page, ls["url"]
        pages = time_pages(urls, logins, lines, args.repeat)
        time.sleep(10)
        rss = {"thinkscope web": tree_rss_mb(ts["web"].pid), "thinkscope Celery worker": tree_rss_mb(ts["celery"].pid)}
        if ls:
            rss["label-studio"] = tree_rss_mb(ls["process"].pid)
    report(imports, pages, rss, len(records))


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def report(imports: dict[str, list[float]], pages: dict[str, list[dict[str, float]]], rss: dict[str, float], count: int) -> None:
    print("\nmedians:")
    for site, seconds in imports.items():
        if seconds:
            print(f"  import of {count} traces   {site:<13} {median(seconds):7.1f} s")
    for site, visits in pages.items():
        print(f"  trace page, lines shown  {site:<13} first view {median([v['first'] for v in visits]):6.0f} ms  "
              f"revisit {median([v['again'] for v in visits]):6.0f} ms  {median([v['elements'] for v in visits]):6,.0f} elements")  # fmt: skip
    for name, megabytes in rss.items():
        print(f"  RSS idle                 {name:<25} {megabytes:6.0f} MB")
    ts = {kind: median([v[kind] for v in pages["thinkscope"]]) for kind in ("first", "again")}
    static = {kind: median([v[kind] for v in pages["static"]]) for kind in ("first", "again")}
    print("ratios:")
    print(f"  thinkscope / static page: first view {ts['first'] / static['first']:.2f}×, revisit {ts['again'] / static['again']:.2f}×")
    if "label-studio" in pages:
        ls = {kind: median([v[kind] for v in pages["label-studio"]]) for kind in ("first", "again")}
        print(f"  Label Studio / thinkscope page: first view {ls['first'] / ts['first']:.1f}×, revisit {ls['again'] / ts['again']:.1f}×")
        print(f"  Label Studio / thinkscope import: {median(imports['label-studio']) / median(imports['thinkscope']):.2f}×")
        web = rss["thinkscope web"] + rss["thinkscope Celery worker"]
        print(f"  RSS idle, thinkscope (web + worker) / Label Studio: {web / rss['label-studio']:.2f}×")


if __name__ == "__main__":
    main()
