"""Early ``after-first`` panes for the vectorized what-if replay: how many early
panes each window publishes before its on-time pane.

Mirrors ``engine.core.operator.WindowOperator`` (read its docstring): per window,

- an on-time element that finds no timer pending sets one ``D`` of processing time
  after the processing time it arrived at (the running maximum of arrival times);
- the timer fires before the first record whose arrival reaches it (timers go
  before the record that moves the clock, and before a watermark that moves with
  processing time), publishing an early pane; the next on-time element — that
  record's own included — sets the next timer;
- the on-time firing supersedes a pending timer, and the end of input does not move
  processing time, so a timer due after the on-time firing or after the last record
  publishes nothing.

Early panes change only how many versions a window has: which records are on time,
late or too late, the on-time and late values, the late-pane cap (it counts late
panes) and the open state do not depend on them. The loop runs once per early pane
*rank* (the k-th early pane of every window at once), so it costs at most
``window size / D`` vectorized steps.
"""

from __future__ import annotations

import numpy as np


def after_first_panes(
    proc: np.ndarray,
    wid: np.ndarray,
    per_record: int,
    on_time_pairs: np.ndarray,
    fire_row: np.ndarray,
    n_windows: int,
    delay_ms: int,
) -> np.ndarray:
    """Early panes per window id.

    ``proc``: processing time per record (running max of arrival); ``wid``: window id
    per pair; ``on_time_pairs``: indices of the on-time pairs, ascending (pairs are
    record-major, so their records are in arrival order); ``fire_row``: per window
    id, the record row at which the watermark reaches its end (``len(proc)``: only at
    the end of input; anything for windows without on-time pairs)."""
    count = np.zeros(n_windows, np.int64)
    n = len(proc)
    if not len(on_time_pairs) or not n:
        return count
    rows = on_time_pairs // per_record
    w = wid[on_time_pairs]
    order = np.argsort(w, kind="stable")  # by window, rows ascending within each
    sw, sr = w[order], rows[order]
    key = sw * (n + 1) + sr  # sorted: the on-time adds of a window, in row order
    uw, first = np.unique(sw, return_index=True)
    stop = np.append(first[1:], len(sw))
    fire = fire_row[uw]
    pos = first.copy()  # the add that sets each window's next timer
    fired = np.zeros(len(uw), np.int64)
    active = np.arange(len(uw))
    while len(active):
        at = proc[sr[pos[active]]]
        # due D later; with D = 0 the timer waits for processing time to move at all
        due = at + max(int(delay_ms), 1)
        j = np.searchsorted(proc, due, side="left")  # the first record reaching it
        ok = (j < n) & (j <= fire[active])  # before (or at) the on-time firing's record
        active, j = active[ok], j[ok]
        fired[active] += 1
        nxt = np.searchsorted(key, uw[active] * (n + 1) + j, side="left")
        more = nxt < stop[active]  # an on-time add at or after the firing record
        pos[active[more]] = nxt[more]
        active = active[more]
    count[uw] = fired
    return count
