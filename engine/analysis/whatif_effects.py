"""Why a What-if proposal changed nothing on the data: per changed source setting,
what that source's events did (on time, late within the allowed lateness, too late)
under the live configuration — the "no effect on this data, and why" of the lab."""

from __future__ import annotations

import numpy as np

from engine.analysis.whatif import WhatIfResult
from engine.core.spec import PipelineSpec
from engine.core.timeutil import format_duration_ms


def no_effect_reasons(
    current: PipelineSpec,
    proposed: PipelineSpec,
    result: WhatIfResult,
    proposed_result: WhatIfResult,
    row_sources,
    sources,
) -> list[str]:
    """Why each per-source change of a proposal left every measure as it was, from
    what the events of that source did under the current configuration (``result``;
    ``row_sources``: the source of each input row). Only sources whose events end
    the same way under the proposal (``proposed_result``) are explained; a change
    without a per-source explanation gets none (the caller says it in general terms)."""
    codes = np.asarray(result.record_outcomes)
    codes_b = np.asarray(proposed_result.record_outcomes)
    src = np.asarray(row_sources, dtype=object)
    out = []
    for s in sources:
        rows = src == s
        mine = codes[rows]
        if not np.array_equal(mine, codes_b[rows]):
            continue  # the change moved some of its events: it has an effect
        on_time = int((mine == 0).sum())
        accepted = int(((mine >= 1) & (mine <= 3)).sum())  # late, side output, dropped
        too_late = int((mine == 4).sum())
        name = f"{s}"
        la, lb = current.lateness_for(s), proposed.lateness_for(s)
        if la != lb:
            a, b = format_duration_ms(la), format_duration_ms(lb)
            if not len(mine) or accepted + too_late == 0:
                out.append(
                    f"{name}: every event was on time ({on_time:,}), so its allowed lateness "
                    "never came into play"
                )
            elif lb > la and too_late == 0:
                out.append(
                    f"{name}: no event came after the current allowed lateness ({a}), so a "
                    f"longer one ({b}) has nothing more to accept"
                )
            elif lb > la:
                out.append(
                    f"{name}: the {too_late:,} events that came too late were more than {b} "
                    "late as well"
                )
            else:
                out.append(f"{name}: every late event ({accepted:,}) came within {b} as well")
        aa, ab = current.action_for(s), proposed.action_for(s)
        if aa != ab and accepted == 0:
            out.append(
                f"{name}: no event arrived late within its allowed lateness ({on_time:,} on "
                f"time, {too_late:,} too late), so its late action ({aa} → {ab}) never applied"
            )
    return out


__all__ = ["no_effect_reasons"]
