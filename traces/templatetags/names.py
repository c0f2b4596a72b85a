"""Template filters naming score keys and label sources for people (``traces.display_names``).

``{{ key|human_name }}`` is the display name in an ``<abbr>`` whose title is the key;
``{{ key|human_label }}`` the display name as plain text (for attributes and options);
``{{ value|shown_score:name }}`` a stored value of score ``name`` as pages show it.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from traces.display_names import display_name, shown_score

register = template.Library()


@register.filter
def human_name(key: str) -> SafeString:
    """The display name of ``key``, with the key on hover (both escaped)."""
    return format_html('<abbr class="key-name" title="{}">{}</abbr>', key, display_name(key))


@register.filter
def human_label(key: str) -> str:
    return display_name(key)


@register.filter(name="shown_score")
def shown_score_filter(value: float | None, name: str) -> float | None:
    return None if value is None else shown_score(name, value)
