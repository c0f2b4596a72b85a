"""Team dashboards (docs/concepts.md §3.8, §4 "dashboards with charts").

Every figure is aggregated by the database (``QuerySet.values().annotate()`` over indexed columns
and the stored analysis ``Score`` rows); Python only applies the metric formulas of
``traces.analysis.metrics`` to the small grouped rows (one row per model × problem at most),
never to traces loaded one by one.

Modules:
    charts            -- ``Chart``: one chart's numbers as a table, its drawing hints, CSV.
    filters           -- the dashboard filters (dataset, run, date range) read from the query string.
    model_comparison  -- the model comparison dashboard.
    annotation        -- the annotation dashboard.
"""
