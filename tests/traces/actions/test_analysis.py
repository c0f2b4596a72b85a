"""The analysis layer on stored traces: scores, markers, idempotence, ``manage.py analyze`` (issue 4, item 5)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from traces.actions.analysis import analyze_traces, needing_analysis
from traces.actions.imports import do_import
from traces.analysis.engine import ANALYSIS_VERSION, METHOD
from traces.models import Project, ProjectScoreName, Score, Trace, TraceAnalysis

pytestmark = pytest.mark.django_db

SKY_T1 = "skyt1_math500_traces/Sky-T1-math-correct-5K-27B.math500.lines1-300.jsonl"
LINES = 40
ALWAYS_PRESENT = {"overthinking_ratio", "thought_switches", "loop_count", "loop_tokens_wasted", "truncated"}


@pytest.fixture
def sky_records(shared_data: Path) -> list[dict]:
    with (shared_data / SKY_T1).open(encoding="utf-8") as fp:
        return [json.loads(line) for _, line in zip(range(LINES), fp)]


@pytest.fixture
def sky_project(sky_records: list[dict], tmp_path: Path) -> Project:
    """The first Sky-T1 traces, imported through the generic JSONL format."""
    path = tmp_path / "sky.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for r in sky_records:
            line = {"prompt": r["question"], "completion": r["code"][0], "reference_answer": r["answer"],
                    "model": "sky-t1", "think_format": "sky_t1"}
            out.write(json.dumps(line) + "\n")
    project = Project.objects.create(name="Sky", slug="sky")
    do_import(project, path, "jsonl")
    return project


def test_every_trace_gets_scores_and_markers(sky_project: Project, sky_records: list[dict]) -> None:
    traces = Trace.objects.filter(project=sky_project)
    assert analyze_traces(traces) == len(sky_records)

    for trace in traces.select_related("analysis"):
        names = set(Score.objects.filter(trace=trace, method=METHOD).values_list("name", flat=True))
        assert ALWAYS_PRESENT <= names
        assert trace.analysis.version == ANALYSIS_VERSION
        for marker in trace.analysis.markers:
            assert 0 <= marker["start"] <= marker["end"] <= len(trace.raw_text)
        ratio = Score.objects.get(trace=trace, name="overthinking_ratio").value
        assert 0.0 <= ratio <= 1.0
        t_star = [m for m in trace.analysis.markers if m["kind"] == "t_star"]
        assert bool(t_star) == ("t_star_step" in names) == (trace.analysis.verdicts["t_star"] is not None)


def test_the_project_registers_the_score_names_its_traces_have(sky_project: Project) -> None:
    """What the trace list offers to filter by (``ProjectScoreName``) is what the scores hold."""
    analyze_traces(Trace.objects.filter(project=sky_project))
    stored = Score.objects.filter(trace__project=sky_project, step__isnull=True).values_list("method", "name")
    registered = ProjectScoreName.objects.filter(project=sky_project).values_list("method", "name")
    assert set(registered) == set(stored.distinct()) and ALWAYS_PRESENT <= {name for _, name in registered}
    assert not ProjectScoreName.objects.exclude(project=sky_project).exists()


def _cut_off(text: str) -> bool:
    """A thought opened and never closed, or an output without markers that stops mid-sentence."""
    if "<|begin_of_thought|>" in text:
        return "<|end_of_thought|>" not in text
    last = text.rstrip()
    function_words = ("and", "or", "the", "of", "to", "so", "that", "alternatively")
    return "<|" not in text and (
        last[-1] in ",+-=([{" or last.split()[-1].lower() in function_words or last.split()[-1] == "\\cdot"
    )


def test_truncation_matches_the_raw_markers(sky_project: Project, sky_records: list[dict]) -> None:
    """Independent count: a thought opened and never closed, or a response without think markers that
    stops mid-sentence, is truncated (docs/concepts.md §1, §3.3)."""
    analyze_traces(Trace.objects.filter(project=sky_project))
    cut_off = sum(_cut_off(r["code"][0]) for r in sky_records)
    assert cut_off > 0
    assert Score.objects.filter(trace__project=sky_project, name="truncated", value=1.0).count() == cut_off


def test_rerunning_replaces_results_without_duplicates(sky_project: Project) -> None:
    traces = Trace.objects.filter(project=sky_project)
    analyze_traces(traces)
    scores = sorted(Score.objects.filter(trace__project=sky_project).values_list("trace_id", "name", "value"))
    assert not needing_analysis(traces).exists()

    analyze_traces(traces)

    again = sorted(Score.objects.filter(trace__project=sky_project).values_list("trace_id", "name", "value"))
    assert again == scores
    assert TraceAnalysis.objects.filter(trace__project=sky_project).count() == traces.count()


def test_older_versions_are_analysed_again(sky_project: Project) -> None:
    traces = Trace.objects.filter(project=sky_project)
    analyze_traces(traces)
    TraceAnalysis.objects.filter(trace=traces.first()).update(version="0")
    assert needing_analysis(traces).count() == 1


def test_analyze_command(sky_project: Project, sky_records: list[dict]) -> None:
    out = StringIO()
    call_command("analyze", project="sky", stdout=out, stderr=StringIO())
    assert f"Analysed {len(sky_records)} traces" in out.getvalue()
    call_command("analyze", project="sky", stdout=out, stderr=StringIO())
    assert "Analysed 0 traces" in out.getvalue()
    call_command("analyze", project="sky", all=True, stdout=out, stderr=StringIO())
    assert out.getvalue().count(f"Analysed {len(sky_records)} traces") == 2


def test_analyze_command_errors(sky_project: Project) -> None:
    with pytest.raises(CommandError, match="No project 'nope' \\(known: sky\\)"):
        call_command("analyze", project="nope")
    with pytest.raises(CommandError, match="not a date"):
        call_command("analyze", "--project", "sky", "--since", "yesterday")


def test_cli_import_analyses_unless_told_not_to(shared_data: Path) -> None:
    Project.objects.create(name="PB", slug="pb")
    sample = shared_data / "processbench" / "gsm8k.jsonl"
    lines = sum(1 for _ in sample.open(encoding="utf-8"))
    out = StringIO()
    call_command("import_traces", str(sample), format="processbench", project="pb", stdout=out, stderr=StringIO())
    assert f"Analysed {lines} traces" in out.getvalue()
    assert TraceAnalysis.objects.filter(trace__project__slug="pb").count() == lines

    other = shared_data / "processbench" / "math.jsonl"
    call_command("import_traces", str(other), format="processbench", project="pb", no_analyze=True, stdout=out, stderr=StringIO())
    assert TraceAnalysis.objects.filter(trace__project__slug="pb").count() == lines
    assert needing_analysis(Trace.objects.filter(project__slug="pb")).count() == sum(1 for _ in other.open(encoding="utf-8"))


def test_summary_columns_repeat_the_scores(sky_project: Project) -> None:
    """The dashboard reads TraceAnalysis columns: they must equal the Score rows of the same trace."""
    from traces.models.analysis import SUMMARY_SCORES

    analyze_traces(Trace.objects.filter(project=sky_project))
    checked = 0
    for analysis in TraceAnalysis.objects.filter(trace__project=sky_project):
        stored = dict(
            Score.objects.filter(trace_id=analysis.trace_id, method=METHOD, step__isnull=True).values_list("name", "value")
        )
        for name in SUMMARY_SCORES:
            assert getattr(analysis, name) == stored.get(name), (analysis.trace_id, name)
            checked += getattr(analysis, name) is not None
    assert checked > 0
