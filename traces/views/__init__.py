"""Browser UI views (SPEC §4): one module per resource, thin, htmx fragments as partials."""
