"""Plain-text rendering of an off-policy evaluation summary, for the CLI and logs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def _cell(value: object, digits: int) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "nan" if np.isnan(value) else f"{float(value):.{digits}f}"
    return str(value)


def render_summary(
    summary: pd.DataFrame,
    digits: int = 4,
    title: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """Render `OffPolicyEvaluation.summarize_off_policy_estimates` as an aligned text table.

    Args:
        summary: One row per estimator (the index), one column per statistic.
        digits: Decimals shown for numbers.
        title: A line printed above the table, if given.
        notes: Lines printed below the table (e.g. the logged policy's mean reward).

    Returns:
        The table, lines joined by newlines, without a trailing newline.
    """
    if digits < 0:
        raise ValueError(f"digits: must be >= 0 (got {digits})")
    header = [str(summary.index.name or "estimator"), *(str(c) for c in summary.columns)]
    body = [
        [str(name), *(_cell(v, digits) for v in row)]
        for name, row in zip(summary.index, summary.itertuples(index=False), strict=True)
    ]
    widths = [max(len(line[j]) for line in [header, *body]) for j in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "-" * len(line(header))
    lines = [] if title is None else [title]
    lines += [line(header), rule, *(line(r) for r in body)]
    if notes:
        lines += [rule, *notes]
    return "\n".join(lines)
