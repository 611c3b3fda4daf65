"""The fix registry (see :mod:`workbench.fixes.base`); importing this package registers every fix."""

from __future__ import annotations

from typing import Any

from workbench.fixes import cleanup, constants, dtypes, ops, shapes  # noqa: F401  (they register)
from workbench.fixes.base import REGISTRY, Fix, FixContext, FixOptions, Issue


def suggest(issue: Any, ctx: FixContext) -> list[tuple[Fix, float]]:
    """Fixes that answer one issue and can apply to this model, best first."""
    ranked = []
    for fix in REGISTRY.values():
        score = fix.relevance(issue, ctx)
        if score <= 0:
            continue
        if fix.params(ctx, issue) is None:
            continue  # relevant, but it has nothing to work with here (e.g. no value given)
        ranked.append((fix, score))
    ranked.sort(key=lambda item: -item[1])
    return ranked


def get_fix(fix_id: str) -> Fix:
    from workbench.errors import WorkbenchError

    try:
        return REGISTRY[fix_id]
    except KeyError:
        raise WorkbenchError(
            f"There is no fix called {fix_id!r} (known: {', '.join(sorted(REGISTRY))})."
        ) from None


__all__ = ["REGISTRY", "Fix", "FixContext", "FixOptions", "Issue", "get_fix", "suggest"]
