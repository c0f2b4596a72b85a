"""The names people read for score keys and label sources, in one registry.

Scores (``t_star_step``, ``overthinking_ratio``…) and label sources (``human``, ``mc_rollout``,
``import:processbench``…) are stored and exported under their keys; pages show ``display_name(key)``
and keep the key on hover (``traces.templatetags.names``). Keys the registry does not know read as
themselves, with underscores as spaces, so a new score never shows up blank.

Some scores are 0-based step indexes (``t_star_step``); pages number steps from 1, as the viewer
does, so ``shown_score`` adds one to them and ``stored_score`` takes it back off for filters.
"""

from __future__ import annotations

SCORE_NAMES: dict[str, str] = {
    "t_star_step": "t* step",
    "tokens_after_t_star": "Tokens after t*",
    "reverifications_after_t_star": "Re-verifications after t*",
    "overthinking_ratio": "Overthinking ratio",
    "thought_switches": "Thought switches",
    "switches_before_correct_path": "Switches before the right path",
    "think_tokens_measured": "Think tokens (measured)",
    "think_answer_mismatch": "Think–answer mismatch",
    "unsupported_answer": "Answer not supported by the thinking",
    "truncated": "Truncated",
    "think_empty": "Empty thinking",
    "loop_count": "Loops",
    "loop_tokens_wasted": "Tokens wasted in loops",
    "behaviour_verification": "Verification cues",
    "behaviour_backtracking": "Backtracking cues",
    "behaviour_subgoal": "Subgoal cues",
    "behaviour_backward_chaining": "Backward-chaining cues",
    "behaviour_reflection": "Reflection cues",
    "prm": "PRM step score",
    "prm_min": "PRM score, min over steps",
    "prm_product": "PRM score, product over steps",
    "prm_mean": "PRM score, mean over steps",
    "prm_last": "PRM score, last step",
    "prm_sum": "PRM score, sum over steps",
}

SOURCE_NAMES: dict[str, str] = {
    "human": "People",
    "adjudicated": "Adjudicated",
    "mc_rollout": "Monte Carlo rollouts",
    "llm_judge:panel": "LLM judge panel",
    "import:processbench": "ProcessBench (imported)",
    "import:prm800k": "PRM800K (imported)",
    "import:math_shepherd": "Math-Shepherd (imported)",
    "import:trl": "TRL stepwise (imported)",
    "import:jsonl": "JSONL (imported)",
    "adjudicated-else-human": "Adjudicated, else people",
    "human-else-auto": "People, else an automatic method",
}

#: Sources named after what follows their prefix: ``llm_judge:<model>``, ``import:<format>``, ``heuristic:<name>``,
#: ``prm:<scorer>``.
SOURCE_PREFIXES: dict[str, str] = {
    "llm_judge:": "LLM judge {}",
    "import:": "{} (imported)",
    "heuristic:": "Heuristic {}",
    "prm:": "PRM {}",
}

#: Scores holding a 0-based step index, shown 1-based like the viewer's step numbers.
STEP_INDEX_SCORES = frozenset({"t_star_step"})


def display_name(key: str) -> str:
    """What people read for a score key or a label source."""
    if key in SCORE_NAMES:
        return SCORE_NAMES[key]
    if key in SOURCE_NAMES:
        return SOURCE_NAMES[key]
    for prefix, template in SOURCE_PREFIXES.items():
        if key.startswith(prefix) and len(key) > len(prefix):
            return template.format(key.removeprefix(prefix))
    return key.replace("_", " ")


def step_offset(name: str) -> int:
    """What a page adds to a stored value of score ``name``: 1 for a step index, else 0."""
    return 1 if name in STEP_INDEX_SCORES else 0


def shown_score(name: str, value: float) -> float:
    """A stored score value as pages show it (a step index as a step number)."""
    return value + step_offset(name)


def stored_score(name: str, value: float) -> float:
    """A value typed by a person, read on the page's scale, as stored (for filters)."""
    return value - step_offset(name)
