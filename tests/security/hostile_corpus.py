"""Hostile model output (issue 9 item 2): what a model, or whoever controls its prompt, may write.

Each payload that could run script sets ``window.__pwned`` (or opens a dialog), so a browser test
sees it fire; ``shown`` is text the page must still show as text. ``line`` makes the thinkscope JSONL
record that carries the payload in the prompt, the thinking, the answer and the reference answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Payload:
    name: str
    text: str
    shown: str  # what the page must show as text ("" when the characters themselves cannot be shown)

    def line(self, model: str = "hostile-model") -> str:
        """One JSONL record; ensure_ascii: lone surrogates and NULs travel as JSON escapes, as APIs send them."""
        marker = f"HOSTILE-{self.name}"
        record = {
            "prompt": f"{marker} prompt: {self.text}",
            "completion": f"<think>{marker} think: {self.text}\n\n{model} thought.</think>{marker} answer: {self.text}",
            "reference_answer": self.text[:200],
            "model": model,
            "finish_reason": "stop",
        }
        return json.dumps(record, ensure_ascii=True)


PWN = "window.__pwned=1"

NESTED_FRACTIONS = "$" + "\\frac{" * 150 + "1" + "}{2}" * 150 + "$"

PAYLOADS = [
    Payload("script", f"<script>{PWN};alert('script')</script>", "<script>"),
    Payload("img-onerror", f'<img src=x onerror="{PWN};alert(2)">', "<img src=x onerror="),
    Payload("svg", f'<svg onload="{PWN}"><script>{PWN}</script></svg>', "<svg onload="),
    Payload("javascript-url", f'<a href="javascript:{PWN}">click me</a> javascript:{PWN}', '<a href="javascript:'),
    Payload("iframe-srcdoc", '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>', "<iframe srcdoc="),
    Payload("attribute-breakout", f"\"><img src=x onerror={PWN}>'><b onmouseover={PWN}>", '"><img src=x'),
    Payload("broken-html", f"</textarea></script></title></div><div onclick={PWN}>unclosed <b><i>", "</textarea>"),
    Payload(
        "meta-base",
        '<meta http-equiv="refresh" content="0;url=javascript:alert(9)"><base href="//evil.invalid/">',
        "<meta http-equiv=",
    ),
    Payload("style", "<style>body{display:none}</style><link rel=stylesheet href=//evil.invalid/x.css>", "<style>"),
    Payload(
        "htmx-attributes",
        '<div hx-get="/accounts/logout/" hx-trigger="load" hx-on:htmx:load="alert(5)">hx</div>',
        '<div hx-get="/accounts/logout/"',
    ),
    Payload(
        "template-injection",
        "{{ request.user.password }} {% debug %} ${alert(6)} #{7*7}",
        "{{ request.user.password }}",
    ),
    Payload(
        "latex-href", r"Look: $\href{javascript:window.__pwned=1}{click}$ and \(\url{javascript:alert(7)}\)", "Look:"
    ),
    Payload("latex-html", r"$$\htmlId{x}{y}\htmlData{onclick=alert(8)}{z}\includegraphics{//evil.invalid/x.png}$$", ""),
    Payload("markdown-link", f"[click](javascript:{PWN}) ![img](x onerror={PWN})", "[click](javascript:"),
    Payload("nul-bytes", f"before\x00after <script>{PWN}</script>", "after <script>"),
    Payload("bidi-zero-width", "\u202egnp.exe\u202c zero\u200bwidth\u200d\ufeff joined \u2066isolate\u2069", "joined"),
    Payload("lone-surrogates", "half \ud800 pair \udfff end", "end"),
    Payload("huge-line", "A" * 1_000_000 + f" tail <script>{PWN}</script>", "tail <script>"),
    # 150 nested fractions (1.5 KB) crashed chromium's tab once typeset: KaTeX must leave them as text.
    Payload("latex-nesting", NESTED_FRACTIONS, NESTED_FRACTIONS[:40]),
]

#: Payloads the importer refuses with a clear error instead of storing (no database text column takes them).
REFUSED = {"nul-bytes": "a NUL character", "lone-surrogates": "a lone UTF-16 surrogate"}


#: One paragraph of reasoning a model repeats until its token limit (a "loop"): it reaches the
#: answer, doubts it and re-checks it, so t*, re-verifications, behaviour cues and loops are all marked.
LOOP_PARAGRAPH = (
    "Wait, let me re-check the total. Each box holds 12 pencils and there are 7 boxes, so the total "
    "is $7 \\times 12 = 84$ pencils. Hmm, but maybe I misread the question: it asks how many pencils "
    "there are after giving away $\\frac{1}{4}$ of them. A quarter of 84 is 21, and 84 - 21 = 63. "
    "Let me verify this another way: three quarters of 84 is $\\frac{3 \\cdot 84}{4} = 63$. "
    "So the answer should be 63. But wait, I should double-check the multiplication once more.\n\n"
)


def looping_record(size: int = 1_000_000, model: str = "looping-model", block: str = LOOP_PARAGRAPH) -> dict[str, str]:
    """A thinkscope JSONL record whose thinking repeats ``block`` until ``size`` characters, then ends
    with an answer: the reasoning model failure of running in a circle to the token limit."""
    repeats = size // len(block) + 1
    return {
        "prompt": "Pencils come in boxes of 12. There are 7 boxes and a quarter of the pencils are given away. "
        "How many pencils are left?",
        "completion": f"<think>{block * repeats}</think>The answer is $63$.",
        "reference_answer": "63",
        "model": model,
        "finish_reason": "stop",
    }
