"""Pure analysis functions over trace text (docs/concepts.md §3).

Nothing in this package imports Django or touches the database: every function takes plain text
(and plain numbers) and returns plain values or frozen dataclasses, so it can run in a web
request, a Celery worker or a notebook alike.

Modules:
    think         -- split a completion into its think part and answer part (docs/concepts.md §1, Trace).
    tokens        -- approximate token counts/offsets for traces without tokenizer info.
    segmentation  -- split a part of a trace into steps (docs/concepts.md §3.1).
    answers       -- extract the final answer and grade it against a reference (docs/concepts.md §3.2).
"""
