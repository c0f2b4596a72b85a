"""Team dashboards (SPEC §3.8, §4 "dashboards with charts"; issue 8).

Every figure is aggregated by the database (``QuerySet.values().annotate()`` over indexed columns
and the stored analysis ``Score`` rows); Python only applies the metric formulas of
``traces.analysis.metrics`` to the small grouped rows (one row per model × problem at most),
never to traces loaded one by one.

Modules:
    charts            -- ``Chart``: one chart's numbers as a table, its drawing hints, CSV.
    filters           -- the dashboard filters (dataset, run, date range) read from the query string.
    model_comparison  -- the model comparison dashboard (issue 8 item 1).
    annotation        -- the annotation dashboard (issue 8 item 2).
"""
