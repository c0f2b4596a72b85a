"""Loops: a passage repeated at least three times, or a sentence or formula at least five times,
and the tokens it wastes (docs/concepts.md §3.4).

A *loop* is a block of consecutive tokens that occurs ``min_repeats`` (3) or more times without
overlapping itself, each repeat starting at most one block-length after the previous one ends (the
repeats dominate the stretch they span: restating a formula three times across a long derivation
is not a loop, going round in circles is).  The block must be either whole sentences or lines of
at least ``min_tokens`` (8) tokens, or any run of at least ``min_fragment_tokens`` (24) tokens;
shorter fragments repeat in every derivation (``\\sum_{k=1}^{n} \\frac{1}{``) without being loops.
A block shorter than ``min_passage_tokens`` (60: a sentence, a formula) must occur
``min_short_repeats`` (5) times: a derivation restates a definition once per value it applies it
to, or writes a product out three times while it expands it, and that is work, not a loop; a
degenerate loop repeats a short block many more times, or a whole passage.

Comparison ignores case and whitespace: the text is cut into the approximate tokens of
``tokens.token_spans`` (words, digit groups, single symbols), casefolded, and blocks are compared
token by token, so "Wait, the  answer" repeats "wait, The answer".

Algorithm (linear in the number of tokens in practice; positions are compared pairwise only among
the few occurrences of one shingle, at most ``_MAX_RUN_TEST``):

1. Every window of ``min_tokens`` tokens (a *shingle*) gets an integer id: words get ids, then
   windows of 2, 4… words get ids from pairs of the previous ids, sorted with numpy (exact, no
   false matches; no Python step per token).
2. A shingle occurring ``min_repeats`` times *starts* a block unless every occurrence is preceded
   by one same shingle that occurs as often (then that shingle starts the same block earlier).
   It is not grown when no ``min_repeats`` of its occurrences can end up in one run of step 4
   (``_may_run``): nothing grown from it would be kept.
3. From its occurrences the block grows while they continue alike (slices compared in doubling
   strides); when they part, the block so far is kept and each group of ``min_repeats``
   occurrences that still agree grows on, unless ``_may_run`` rules that group out too.  An
   occurrence stops where it would run into the next.
4. Occurrences followed by a gap longer than the block split it into separate runs.
5. A block whose repeats follow each other directly is periodic and could begin at any phase; the
   phase moves forward (as far as the text allows) to the first token opening a line or a
   sentence, so a repeated paragraph is reported as that paragraph.  A block shorter than
   ``min_fragment_tokens`` is trimmed to the whole sentences it holds (judged on its first
   repeat); a short periodic block without sentences ("1 + 1 + 1 + …") is taken in runs of
   whole periods of at least ``min_fragment_tokens``.
6. Blocks are kept from the largest (repeats × length) down; one overlapping a kept block is
   dropped, so no token is counted twice.

``tokens_wasted`` of a loop counts the tokens of every repeat after the first, with the real
tokenizer's offsets when given, else with the approximate tokens used for matching.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import count
from operator import sub

import numpy as np

from traces.analysis.behaviours import clamp_range
from traces.analysis.segmentation import Span
from traces.analysis.tokens import TokenWords, token_words, token_words_within, tokens_in

DEFAULT_MIN_TOKENS = 8
"""Shortest loop made of whole sentences or lines, in approximate tokens."""

DEFAULT_MIN_FRAGMENT_TOKENS = 24
"""Shortest loop that is not whole sentences (about one long sentence)."""

DEFAULT_MIN_REPEATS = 3
"""docs/concepts.md §3.4: a passage repeated at least three times."""

DEFAULT_MIN_PASSAGE_TOKENS = 60
"""A block this long or longer (a passage of several sentences) is a loop at ``min_repeats``."""

DEFAULT_MIN_SHORT_REPEATS = 5
"""A shorter block (a sentence, a formula) is a loop only when repeated this many times: a
derivation restates a formula or a definition three or four times while it works (docs/concepts.md §3.4)."""

_SENTENCE_ENDS = ".!?:"
_CLOSING_TOKENS = frozenset(".!?")
_SKIPPED_BEFORE_OPENER = " \t\r*_#>"
_ID_BYTES = np.dtype(np.int64).itemsize  # one packed word id
_MAX_RUN_TEST = 16  # ``_may_run`` tests at most this many occurrences (it is quadratic in them)


@dataclass(frozen=True)
class Loop:
    """One repeated block: the character span of each repeat (text order) and the tokens wasted."""

    repeats: tuple[Span, ...]
    tokens_wasted: int

    @property
    def count(self) -> int:
        """How many times the block occurs."""
        return len(self.repeats)


@dataclass(frozen=True)
class Loops:
    """All loops of a range of a trace, in text order of their first repeat (docs/concepts.md §3.4)."""

    loops: tuple[Loop, ...]

    @property
    def tokens_wasted(self) -> int:
        """Tokens in the repeats beyond the first, over all loops (docs/concepts.md §3.4 "tokens wasted")."""
        return sum(loop.tokens_wasted for loop in self.loops)


@dataclass(frozen=True)
class _Block:
    """A repeated block in token indices: the index where each repeat starts, and its length."""

    starts: tuple[int, ...]
    length: int


@dataclass(frozen=True)
class _Tokens:
    """The approximate tokens of ``text[offset:…]``: their words, where each starts (relative to
    ``offset``), and the ids of their casefolded words (``_word_ids``), also packed as bytes."""

    text: str
    offset: int
    words: list[str]
    starts: list[int]
    word_ids: np.ndarray
    packed: bytes

    def end(self, i: int) -> int:
        """Where token ``i`` ends, relative to ``offset``."""
        return self.starts[i] + len(self.words[i])

    def char_span(self, first: int, last: int) -> Span:
        """Absolute character span from token ``first`` to token ``last`` (inclusive)."""
        return Span(self.offset + self.starts[first], self.offset + self.end(last))

    def opens(self, i: int) -> bool:
        """Token ``i`` starts the range, a line or a sentence (spaces and markup skipped)."""
        j = self.offset + self.starts[i]
        while j > self.offset and self.text[j - 1] in _SKIPPED_BEFORE_OPENER:
            j -= 1
        return j == self.offset or self.text[j - 1] == "\n" or self.text[j - 1] in _SENTENCE_ENDS

    def closes(self, i: int) -> bool:
        """Token ``i`` ends a sentence (``.``, ``!``, ``?``) or a line, or is the last token."""
        start, end = self.offset + self.starts[i], self.offset + self.end(i)
        if self.text[start:end] in _CLOSING_TOKENS or i + 1 == len(self.starts):
            return True
        return "\n" in self.text[end : self.offset + self.starts[i + 1]]


def _word_ids(words: list[str]) -> np.ndarray:
    """An id per casefolded word, numbered in order of first occurrence (equal words, equal ids).

    The words are casefolded in one call on their join: no word holds whitespace, and casefolding
    never makes any, so splitting at the separator gives back one folded word per word.
    """
    folded = "\n".join(words).casefold().split("\n")
    vocabulary = dict(zip(dict.fromkeys(folded), count()))
    return np.fromiter(map(vocabulary.__getitem__, folded), dtype=np.int64, count=len(folded))


def _packed_word_ids(word_ids: np.ndarray) -> bytes:
    """The word ids as ``bytes``, ``_ID_BYTES`` each (step 1).

    A slice of it stands for a run of words: it hashes and compares in C (memcmp), faster than
    a tuple or list of ints.
    """
    return word_ids.tobytes()


def _window_ids(ids: np.ndarray, width: int, k: int) -> np.ndarray:
    """Ids of the windows of ``k`` ids, from ``ids`` of the windows of ``width`` (``k/2 <= width <= k``).

    A window of ``k`` is the window of ``width`` at its start and the one ending at its end (they
    overlap or touch), so the pair of their ids names it exactly; ``np.unique`` renumbers the
    pairs densely so that the next doubling still fits in 64 bits.
    """
    pairs = ids[: len(ids) - (k - width)] * (int(ids.max()) + 1) + ids[k - width :]
    return np.unique(pairs, return_inverse=True)[1]


def _shingle_ids(word_ids: np.ndarray, k: int) -> np.ndarray:
    """An id per window of ``k`` words; equal windows get equal ids, different ones different ids (step 1).

    Prefix doubling (as suffix-array construction does): ids of windows of 1, 2, 4… words, each
    from pairs of the previous, then of ``k`` from two overlapping windows.  Every step is a numpy
    sort, so no Python runs per token; exact, unlike a rolling hash.
    """
    ids, width = word_ids, 1
    while 2 * width <= k:
        ids, width = _window_ids(ids, width, 2 * width), 2 * width
    return ids if width == k else _window_ids(ids, width, k)


def _block_starts(shingles: np.ndarray, min_repeats: int) -> list[list[int]]:
    """The positions of each shingle that starts a block (step 2), shingles in order of first occurrence.

    A shingle occurring ``min_repeats`` times or more starts a block unless every occurrence
    follows one same shingle that occurs as often (that one starts the same block earlier).
    All in numpy: the frequent positions are grouped by one stable sort on their shingle's first
    occurrence, and each group is tested at once with the minimum and maximum of its predecessors.
    """
    counts = np.bincount(shingles)
    frequent = np.flatnonzero(counts[shingles] >= min_repeats)
    if not len(frequent):
        return []
    first = np.unique(shingles, return_index=True)[1]
    grouped = frequent[np.argsort(first[shingles[frequent]], kind="stable")]
    heads = np.flatnonzero(np.diff(shingles[grouped], prepend=-1))
    sizes = np.diff(heads, append=len(grouped))
    before = np.where(grouped > 0, shingles[grouped - 1], -1)
    same_before = np.minimum.reduceat(before, heads) == np.maximum.reduceat(before, heads)
    continues = same_before & (before[heads] >= 0) & (counts[before[heads]] == sizes)
    return [grouped[h : h + n].tolist() for h, n in zip(heads[~continues].tolist(), sizes[~continues].tolist())]


def _non_overlapping(starts: list[int], k: int) -> list[int]:
    kept: list[int] = []
    for p in starts:
        if not kept or p >= kept[-1] + k:
            kept.append(p)
    return kept


def _may_run(ids: list[int], packed: bytes, starts: list[int], k: int, min_repeats: int) -> bool:
    """False when nothing grown from these occurrences can survive step 4 (then step 3 is skipped).

    Two repeats of a block of ``L`` tokens, ``d`` tokens apart, stay in one run only if
    ``d <= 2L``; being repeats, they share their first ``L`` words, so their first
    ``ceil(d / 2)`` words too.  Without a chain of ``min_repeats`` occurrences that pairwise share
    that much, no run forms.  The test costs O(len(starts)²), so longer lists of occurrences are
    grown without it.
    """
    if len(starts) > _MAX_RUN_TEST:
        return True
    chain: list[int] = []  # chain[j]: most occurrences of such a chain ending at starts[j]
    for j, b in enumerate(starts):
        longest = 1
        for i in range(j):
            if chain[i] >= longest and _share_words(ids, packed, starts[i], b, (b - starts[i] + 1) // 2, k):
                longest = chain[i] + 1
        if longest >= min_repeats:
            return True
        chain.append(longest)
    return False


def _share_words(ids: list[int], packed: bytes, a: int, b: int, count: int, k: int) -> bool:
    """``words[a:a + count] == words[b:b + count]`` for two occurrences ``a < b`` of one shingle."""
    if count <= k:
        return True
    last = count - k  # their last window of ``count`` words: one int comparison rules most pairs out
    if b + last >= len(ids) or ids[a + last] != ids[b + last]:
        return False
    return packed[a * _ID_BYTES : (a + count) * _ID_BYTES] == packed[b * _ID_BYTES : (b + count) * _ID_BYTES]


def _agreeing(packed: bytes, n_ids: int, group: list[int], grown: int, k: int) -> int:
    """How many more shingles every occurrence shares from ``grown`` on, staying apart.

    The occurrences share the words of their first ``grown`` shingles, so shingle ``grown + j``
    agrees where word ``grown + k - 1 + j`` does.
    """
    limit = min(n_ids - group[-1], min(map(sub, group[1:], group)) - k + 1)
    offset = grown + k - 1
    return _common_length(packed, [p + offset for p in group], limit - grown)


def _common_length(packed: bytes, starts: Sequence[int], cap: int) -> int:
    """How many words from each of ``starts`` on are the same for all of them (at most ``cap``).

    Compares slices of ``packed`` in doubling strides (galloping), so a long common stretch costs
    a few memcmp calls instead of one Python step per token.
    """
    first, others = starts[0], starts[1:]
    common, stride = 0, 1
    while common < cap:
        size = min(stride, cap - common)
        words = packed[(first + common) * _ID_BYTES : (first + common + size) * _ID_BYTES]
        if all(packed[(p + common) * _ID_BYTES : (p + common + size) * _ID_BYTES] == words for p in others):
            common += size
            stride *= 2
        elif size == 1:
            break
        else:
            stride = size // 2
    return common


def _grow(ids: list[int], packed: bytes, starts: list[int], k: int, min_repeats: int) -> Iterator[_Block]:
    """Grow blocks from the occurrences of one shingle (step 3).

    Occurrences that continue alike grow together; when they part, the block so far is yielded
    and each group of ``min_repeats`` occurrences that still agree grows on.  An occurrence stops
    where it would run into the next occurrence of its group.
    """
    n = len(ids)
    pending = [(starts, 1)]
    while pending:
        group, grown = pending.pop()
        grown += _agreeing(packed, n, group, grown, k)
        yield _Block(tuple(group), grown + k - 1)
        branches: dict[int, list[int]] = {}
        for i, p in enumerate(group):
            q = p + grown
            if q < n and (i + 1 == len(group) or q + k - 1 < group[i + 1]):
                branches.setdefault(ids[q], []).append(p)
        pending.extend(
            (sub, grown + 1)
            for sub in branches.values()
            if len(sub) >= min_repeats and _may_run(ids, packed, sub, k, min_repeats)
        )


def _close_runs(block: _Block, min_repeats: int) -> Iterator[_Block]:
    """Split a block's repeats where one is followed by a gap longer than the block (step 4)."""
    run: list[int] = []
    for p in block.starts:
        if run and p - (run[-1] + block.length) > block.length:
            if len(run) >= min_repeats:
                yield _Block(tuple(run), block.length)
            run = []
        run.append(p)
    if len(run) >= min_repeats:
        yield _Block(tuple(run), block.length)


def _blocks(word_ids: np.ndarray, packed: bytes, k: int, min_repeats: int) -> Iterator[_Block]:
    """Maximal repeated blocks of at least ``k`` tokens (``word_ids``, also ``packed``), close together
    (steps 1–4)."""
    shingles = _shingle_ids(word_ids, k)
    ids = shingles.tolist()
    for starts in _block_starts(shingles, min_repeats):
        starts = _non_overlapping(starts, k)
        if len(starts) >= min_repeats and _may_run(ids, packed, starts, k, min_repeats):
            for block in _grow(ids, packed, starts, k, min_repeats):
                yield from _close_runs(block, min_repeats)


def _is_periodic(block: _Block) -> bool:
    """Each repeat starts where the previous one ends."""
    return all(b - a == block.length for a, b in zip(block.starts, block.starts[1:]))


def _in_phase(tokens: _Tokens, block: _Block) -> _Block:
    """A periodic block moved forward to open a line or a sentence, if the text allows (step 5)."""
    if not _is_periodic(block):
        return block
    starts, length = block.starts, block.length
    tail = starts[-1] + length
    slack = _common_length(tokens.packed, (starts[0], tail), min(length - 1, len(tokens.starts) - tail))
    for shift in range(slack + 1):
        if tokens.opens(starts[0] + shift):
            return _Block(tuple(p + shift for p in starts), length)
    return block


def _whole_sentences(tokens: _Tokens, block: _Block, min_tokens: int) -> _Block | None:
    """The block trimmed to the whole sentences of its first repeat, if that keeps ``min_tokens``."""
    first = block.starts[0]
    head = next((i for i in range(block.length) if tokens.opens(first + i)), None)
    tail = next((i for i in reversed(range(block.length)) if tokens.closes(first + i)), None)
    if head is None or tail is None or tail - head + 1 < min_tokens:
        return None
    return _Block(tuple(p + head for p in block.starts), tail - head + 1)


def _periods_joined(block: _Block, min_length: int) -> _Block:
    """A short periodic block as runs of whole periods of at least ``min_length`` tokens ("1 1 1 …")."""
    per = -(-min_length // block.length)
    groups = len(block.starts) // per
    return _Block(block.starts[: groups * per : per], per * block.length)


def _loop_blocks(
    tokens: _Tokens, min_tokens: int, min_fragment_tokens: int, min_repeats: int
) -> Iterator[_Block]:
    """Blocks that count as loops: long enough, whole sentences, or a short period run long (step 5)."""
    for found in _blocks(tokens.word_ids, tokens.packed, min_tokens, min_repeats):
        block = _in_phase(tokens, found)
        if block.length >= min_fragment_tokens:
            yield block
            continue
        trimmed = _whole_sentences(tokens, block, min_tokens)
        if trimmed is not None:
            yield from _close_runs(trimmed, min_repeats)
        elif _is_periodic(block):
            joined = _periods_joined(block, min_fragment_tokens)
            if len(joined.starts) >= min_repeats:
                yield joined


def _disjoint(blocks: Iterator[_Block], n_tokens: int) -> list[_Block]:
    """Largest blocks first; drop any block that overlaps one already kept (step 6)."""
    claimed = bytearray(n_tokens)
    kept = []
    for block in sorted(blocks, key=lambda b: (-len(b.starts) * b.length, b.starts[0])):
        if any(claimed.find(1, p, p + block.length) != -1 for p in block.starts):
            continue
        for p in block.starts:
            claimed[p : p + block.length] = b"\x01" * block.length
        kept.append(block)
    return sorted(kept, key=lambda b: b.starts[0])


def find_loops(
    text: str,
    start: int = 0,
    end: int | None = None,
    *,
    token_starts: Sequence[int] | None = None,
    tokens: TokenWords | None = None,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    min_fragment_tokens: int = DEFAULT_MIN_FRAGMENT_TOKENS,
    min_repeats: int = DEFAULT_MIN_REPEATS,
    min_passage_tokens: int = DEFAULT_MIN_PASSAGE_TOKENS,
    min_short_repeats: int = DEFAULT_MIN_SHORT_REPEATS,
) -> Loops:
    """Blocks of ``text[start:end]`` repeated ``min_repeats``+ times, with spans (docs/concepts.md §3.4).

    ``token_starts``: character offsets where the real tokens of the whole ``text`` start, for
    counting wasted tokens (matching always uses the approximate tokens).  ``tokens``: the
    approximate tokens of the whole ``text`` (``token_words``), when the caller has them.  See the
    module docstring for the rules.  Bad parameters raise ``ValueError``; any text is fine.
    """
    if min_tokens < 1:
        raise ValueError(f"min_tokens must be at least 1, got {min_tokens}")
    if min_fragment_tokens < min_tokens:
        raise ValueError(
            f"min_fragment_tokens ({min_fragment_tokens}) must be at least min_tokens ({min_tokens})"
        )
    if min_repeats < 2:
        raise ValueError(f"min_repeats must be at least 2, got {min_repeats}")
    if min_short_repeats < min_repeats:
        raise ValueError(f"min_short_repeats ({min_short_repeats}) must be at least min_repeats ({min_repeats})")
    start, end = clamp_range(text, start, end)
    within = None if tokens is None else token_words_within(tokens, start, end)
    words, starts = token_words(text[start:end]) if within is None else within
    if len(words) < min_tokens * min_repeats:
        return Loops(())
    word_ids = _word_ids(words)
    indexed = _Tokens(text, start, words, starts.tolist(), word_ids, _packed_word_ids(word_ids))
    counted = (starts + start).tolist() if token_starts is None else token_starts
    loops = []
    blocks = (
        block
        for block in _loop_blocks(indexed, min_tokens, min_fragment_tokens, min_repeats)
        if block.length >= min_passage_tokens or len(block.starts) >= min_short_repeats
    )
    for block in _disjoint(blocks, len(words)):
        repeats = tuple(indexed.char_span(p, p + block.length - 1) for p in block.starts)
        wasted = sum(tokens_in(counted, r.start, r.end) for r in repeats[1:])
        loops.append(Loop(repeats, wasted))
    return Loops(tuple(loops))
