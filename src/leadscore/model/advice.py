"""Things a valid model may not mean: said as warnings by `validate` and `score`."""

from __future__ import annotations

import difflib

from leadscore.model.schema import ScoringModel


def model_warnings(model: ScoringModel) -> list[str]:
    """Warnings about a model that is valid but likely not what its author meant."""
    e = model.engagement
    declared = list(e.categories)
    warnings = []
    rules = [("engagement.rules", i, r) for i, r in enumerate(e.rules)]
    rules += [("engagement.inactivity", i, r) for i, r in enumerate(e.inactivity)]
    for where, i, rule in rules:
        # A category without a cap is allowed (SPEC: uncapped); one a letter away from a
        # capped one is a typo that silently lifts the cap.
        if rule.category is None or rule.category in e.categories:
            continue
        close = difflib.get_close_matches(rule.category, declared, n=1, cutoff=0.75)
        if close:
            warnings.append(
                f"{where}[{i}] {rule.name!r}: category {rule.category!r} has no cap, so the "
                f"rule is uncapped; did you mean {close[0]!r}?"
            )
    return warnings


__all__ = ["model_warnings"]
