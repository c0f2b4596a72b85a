"""Reading a bounded trace page (``traces.views.windows``) whole, as a browser would by loading every
window of steps and every piece of a long text through their htmx fragments."""

from __future__ import annotations

import html
import re

from django.test import Client

#: A row standing for steps not shown yet, with the URL of the fragment that loads them.
HIDDEN_ROW = re.compile(r'<li class="steps-hidden[^"]*"[^>]*>.*?hx-get="([^"]+)".*?</li>', re.S)
#: The button under a long text that loads its next piece: the text's name and the fragment's URL.
TEXT_REST = re.compile(r'<button type="button" class="text-rest" id="rest-([\w-]+)" hx-get="([^"]+)"')
#: A step row's number and its marked text.
STEP_TEXT = re.compile(r'<li class="step[^"]*" id="step-(\d+)".*?<div class="step-text tex"[^>]*>(.*?)</div>', re.S)
TAG = re.compile(r"<[^>]+>")


def with_hidden_steps(client: Client, body: str) -> str:
    """``body`` with every row of hidden steps replaced by the rows it loads, as htmx swaps them in,
    until no such row is left."""
    while found := HIDDEN_ROW.search(body):
        fragment = client.get(html.unescape(found.group(1)), HTTP_HX_REQUEST="true")
        assert fragment.status_code == 200, fragment.content[:300]
        body = body[: found.start()] + fragment.content.decode() + body[found.end() :]
    return body


def shown_steps(body: str) -> list[tuple[int, str]]:
    """Each step row's number and its text as shown (marks removed, unescaped), in page order."""
    return [(int(number), html.unescape(TAG.sub("", text))) for number, text in STEP_TEXT.findall(body)]


def whole_text(client: Client, body: str, name: str) -> str:
    """The text named ``name`` as the page shows it, with every further piece its button loads."""
    text_div = re.search(rf'id="text-{name}">(.*?)</div>', body, re.S)
    assert text_div is not None, name
    text = html.unescape(TAG.sub("", text_div.group(1)))
    while rest := next((url for rest_name, url in TEXT_REST.findall(body) if rest_name == name), None):
        body = client.get(html.unescape(rest), HTTP_HX_REQUEST="true").content.decode()
        piece = re.match(r'<span class="tex">(.*?)</span>(?:<button|<span id=)', body, re.S)
        assert piece is not None, body[:300]
        text += html.unescape(TAG.sub("", piece.group(1)))
    return text
