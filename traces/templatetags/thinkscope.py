"""Small display helpers of the browser UI: correctness badges, token counts, step ratings, links
to another window of a trace page.

Every helper builds its HTML with ``format_html`` (or returns plain text the template escapes),
which escapes its arguments; none marks model text safe.
"""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import format_html
from django.utils.safestring import SafeString

from traces.models import LabelValue
from traces.views.windows import WINDOW_PARAMS

register = template.Library()

_CORRECTNESS = {
    True: ("ok", "✓", "correct"),
    False: ("bad", "✗", "incorrect"),
    None: ("unknown", "?", "undetermined"),
}

#: A rating's CSS class, symbol and text (docs/concepts.md §1 Label: PRM800K semantics). Colour is never the
#: only cue: each value has its own symbol and its signed number.
_RATINGS = {
    1: ("pos", "✓", "+1"),
    0: ("zero", "○", "0"),
    -1: ("neg", "✗", "−1"),
    None: ("none", "?", "unrated"),
}


@register.simple_tag
def correctness_badge(is_correct: bool | None, method: str = "") -> SafeString:
    """A badge for ``Trace.is_correct`` (colour, symbol and word), with the grading method as its tooltip."""
    css, symbol, text = _CORRECTNESS[is_correct]
    title = f"graded by {method}" if method else text
    return format_html(
        '<span class="badge {}" title="{}"><span aria-hidden="true">{}</span> {}</span>', css, title, symbol, text
    )


def rating_text(value: int | None) -> str:
    """A step rating as people read it: "+1", "0", "−1" (a minus sign, as the chips show), "unrated"."""
    return _RATINGS[value][2]


@register.simple_tag
def rating(value: int | None) -> SafeString:
    """A step rating −1/0/+1 (or unrated) as a chip: colour, symbol and signed number."""
    css, symbol, text = _RATINGS[value]
    title = LabelValue(value).label if value is not None else "not rated"
    return format_html(
        '<span class="rating rating-{}" title="{}"><span class="rating-symbol" aria-hidden="true">{}</span>{}</span>',
        css,
        title,
        symbol,
        text,
    )


@register.simple_tag
def tokens(count: int | None, exact: bool = True) -> str:
    """A token count with thousands separators, prefixed by "≈" when it is an estimate."""
    if count is None:
        return "–"
    return f"{'' if exact else '≈'}{intcomma(count)}"


@register.simple_tag(takes_context=True)
def window_url(context: template.Context, **params: object) -> str:
    """This page's URL for another window of it (``traces.views.windows``): its own query string (a
    queue's, say) with the window parameters set to ``params`` (those None, False or empty left out:
    a template passes a variable its page does not set as empty)."""
    request = context["request"]
    query = request.GET.copy()
    for name in WINDOW_PARAMS:
        query.pop(name, None)
    for name, value in params.items():
        if value is not None and value is not False and value != "":
            query[name] = "1" if value is True else str(value)
    return f"{request.path}?{query.urlencode()}"


@register.filter
def duration(value: timedelta | None) -> str:
    """A wall-clock duration as ``1 h 02 min``, ``3 min 05 s``, ``42 s`` or ``850 ms``; ``—`` when unknown."""
    if value is None:
        return "—"
    if timedelta(0) < value < timedelta(seconds=1):
        return f"{round(value.total_seconds() * 1000)} ms"
    seconds = max(0, round(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
