"""Browser UI views (docs/concepts.md §4): one module per resource, thin, htmx fragments as partials."""
