"""Late ``every:D`` panes for the vectorized what-if replay: which accepted late
pairs share a pane, when each pane fires, and which pairs the
``max_updates_per_window`` cap sends to the side output.

Mirrors ``engine.core.operator.WindowOperator`` (read its docstring): per window,
in arrival order,

- a window that never fired (no on-time pair: its first element came after W
  passed its end) fires its first accepted late pair at once, at that pair's
  arrival;
- after a firing, the next accepted late pair opens a pane and a timer D of
  processing time later; late pairs until the timer share the pane. The timer
  fires before the first record whose arrival reaches it (timers go before the
  record that moves the clock);
- a pane still pending when W reaches ``end + max lateness`` (state cleanup) is
  flushed then, at that record's processing time (end of input: the last one);
- the cap counts *panes*: once ``max_updates`` late panes fired and none is
  pending, further late pairs go to the side output.

The loop runs over accepted late pairs only (a small share of the input), grouped
by window with one stable sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.core.spec import PipelineSpec


@dataclass
class LatePanes:
    """Per window id: late panes fired and the processing time of the last (-1: none);
    ``accepted``: the late pair indices that made it into a pane."""

    count: np.ndarray
    last_at_ms: np.ndarray
    accepted: np.ndarray
    over_cap: np.ndarray


def late_every_panes(
    proc: np.ndarray,
    first_reach,
    wid: np.ndarray,
    window_end: np.ndarray,
    per_record: int,
    late_idx: np.ndarray,
    fired: np.ndarray,
    spec: PipelineSpec,
) -> LatePanes:
    """``late_idx``: pair indices classified late (update action), in pair order;
    ``fired``: per window id, whether it fired on time (it holds an on-time pair);
    ``first_reach``: ``Track.first_reach`` (the row where W first reaches a value)."""
    nw = len(window_end)
    count = np.zeros(nw, np.int64)
    last_at = np.full(nw, -1, np.int64)
    if not len(late_idx):
        return LatePanes(count, last_at, late_idx, late_idx)
    n = len(proc)
    every = spec.trigger.late_every_ms
    cap = spec.max_updates_per_window
    wids = wid[late_idx]
    order = np.argsort(wids, kind="stable")
    uw, starts = np.unique(wids[order], return_index=True)
    stops = [*starts[1:].tolist(), len(order)]
    arrival = proc[late_idx // per_record].tolist()  # processing time of each late pair
    order_l = order.tolist()
    fired_l = fired[uw].tolist()
    over: list[int] = []
    used_l: list[int] = []
    last_l: list[int] = []
    timers: list[tuple[int, int]] = []  # (k, due) of panes still pending at the end
    for k in range(len(uw)):
        used = 0
        timer = None  # a pending pane's timer (pending <=> timer set)
        have = fired_l[k]
        last = -1
        for i in order_l[starts[k] : stops[k]]:
            p = arrival[i]
            if timer is not None and p >= timer:  # fired before this record
                used += 1
                last = timer
                timer = None
            if cap is not None and used >= cap and timer is None:
                over.append(i)
                continue
            if not have:  # never fired: fires now, as its on-time pane would have
                have = True
                used += 1
                last = p
            elif timer is None:
                timer = p + every
        if timer is not None:
            timers.append((k, timer))
            used += 1
        used_l.append(used)
        last_l.append(last)
    last_arr = np.asarray(last_l, np.int64)
    if timers:
        ks = np.array([k for k, _ in timers], np.int64)
        due = np.array([t for _, t in timers], np.int64)
        close_row, _ = first_reach(window_end[uw[ks]] + spec.max_lateness_ms())
        due_row = np.searchsorted(proc, due, side="left")  # first arrival reaching it
        # the timer fires unless the cleanup (W at end + max lateness) flushed it first
        flushed_at = np.where(close_row < n, proc[np.minimum(close_row, n - 1)], proc[n - 1])
        last_arr[ks] = np.where((due_row < n) & (due_row <= close_row), due, flushed_at)
    count[uw] = used_l
    last_at[uw] = last_arr
    keep = np.ones(len(late_idx), bool)
    keep[np.asarray(over, np.int64)] = False
    return LatePanes(count, last_at, late_idx[keep], late_idx[~keep])
