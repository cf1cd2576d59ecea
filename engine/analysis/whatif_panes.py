"""The vectorized core of the what-if replay: watermark tracks, (event, window) pairs
and their classification, in numpy with no per-event Python loop.

It re-derives what ``engine.core.operator.WindowOperator`` does record by record, so
read that module's docstring first. The three facts everything here rests on:

- The watermark is a monotone function of the input prefix. ``Track.before[i]`` is
  W as record ``i`` is routed (after processing time moved to its arrival, before
  the watermark observed the record); ``Track.after[i]`` is W once it did. Both are
  running maxima, so "when does W first reach x" is a ``searchsorted``.
- A pair's outcome depends only on ``before[i]``, the window end, the source's
  allowed lateness and late action — except ``max_updates_per_window``, which
  needs the rank of a late update within its window (a stable sort of the late
  pairs only, usually a small subset).
- The on-time pairs all precede the on-time firing (W only grows). Early
  ``after-first`` panes (processing-time timers) only add versions before it and are
  counted in ``whatif_early``. With late ``each`` every accepted late update is
  exactly one late version; late ``every:D`` panes (processing-time timers) are
  grouped per window in ``whatif_late``.

Pairs are laid out record-major (record, group, window slot) — the operator's own
loop order — so "best outcome of a record" is a row minimum of a reshape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.whatif_early import after_first_panes
from engine.analysis.whatif_late import LatePanes, late_every_panes
from engine.core.spec import PipelineSpec
from engine.core.timeutil import DAY_MS, NEG_INF_MS, POS_INF_MS

# Record/pair outcome codes in the operator's rank order (on_time is the best).
OUTCOME_NAMES = ("on_time", "late", "side_output", "dropped", "too_late")
ON_TIME, LATE, SIDE, DROPPED, TOO_LATE, INVALID = range(6)
ACTION_CODES = {"update": LATE, "side_output": SIDE, "recompute": SIDE, "drop": DROPPED}
MAX_WATERMARK_KEYS = 64  # per-key strategies loop over keys; beyond this use the operator
_INF = np.int64(2**62)
_NEG = np.int64(NEG_INF_MS)
# A (group, window) id space larger than this is compacted with np.unique (a sort).
_DENSE_LIMIT = 1 << 24


class Unsupported(Exception):
    """The configuration needs the event-at-a-time operator; the message says why."""


@dataclass
class Track:
    """Watermark as each record is routed (``before``) and once it was observed
    (``after``), and processing time (running max of arrival), all per record."""

    before: np.ndarray
    after: np.ndarray
    proc: np.ndarray

    def first_reach(self, threshold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row at which W first reaches each threshold, and whether that happened
        before the row was routed (processing time moved) rather than after it.
        Row ``n`` means "only at end of input"."""
        threshold = np.asarray(threshold, dtype=np.int64)
        row = np.searchsorted(self.after, threshold, side="left")
        n = len(self.after)
        safe = np.minimum(row, max(n - 1, 0))
        pre = (row < n) & (self.before[safe] >= threshold) if n else row < 0
        return row, pre


def _cummax(values: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(values) if len(values) else values


def watermark_track(a, spec: PipelineSpec) -> Track:
    """W before/after each record for the spec's strategy (see engine.core.watermarks)."""
    wm = spec.watermark
    et, n = a.event_time_ms, len(a)
    arrival = a.arrival_time_ms
    # Processing time never goes back; rows in arrival order need no copy.
    proc = arrival if n < 2 or bool(np.all(arrival[1:] >= arrival[:-1])) else _cummax(arrival)
    delays = np.array([spec.watermark_delay_for(s) for s in a.source_names] or [0], np.int64)
    if wm.kind == "bounded":
        # W = max event time seen - the largest delay of the sources seen so far
        # (the generator starts from the pipeline default and only grows it).
        buf = np.empty(n + 1, np.int64)
        buf[0] = _NEG
        after = buf[1:]
        np.maximum.accumulate(et, out=after)
        present = np.flatnonzero(np.bincount(a.source_codes, minlength=len(delays)))
        if len(present) and delays[present].max() > wm.delay_ms:
            grow = np.maximum(np.maximum.accumulate(delays[a.source_codes]), wm.delay_ms)
            after -= grow
            np.maximum.accumulate(after, out=after)
        else:
            after -= wm.delay_ms
        return Track(buf[:-1], after, proc)
    if wm.kind == "processing-time":
        w = proc - wm.delay_ms
        return Track(w, w, proc)
    if wm.kind == "punctuated":
        # An events table carries no watermark records: W stays at -inf until the end.
        w = np.full(n, _NEG)
        return Track(w, w, proc)
    return _per_key_track(a, spec, delays, proc)


def _per_key_track(a, spec: PipelineSpec, delays: np.ndarray, proc: np.ndarray) -> Track:
    """Global W = min over active keys of each key's max(event time - its source's
    delay); idle keys (silent for more than ``idle_ms`` of processing time) do not count,
    and when all are idle W = max over keys. One pass per key, keys are few."""
    wm = spec.watermark
    n = len(a)
    keys, nkeys = a.watermark_keys(wm.key_by == "source")
    if nkeys > MAX_WATERMARK_KEYS:
        raise Unsupported(f"per-key watermark over {nkeys} keys (> {MAX_WATERMARK_KEYS})")
    mark = a.event_time_ms - delays[a.source_codes]
    if wm.source_idle_ms and wm.key_by == "source":
        raise Unsupported("per-source idle timeouts (the event-at-a-time operator runs them)")
    idle = wm.idle_ms
    post_min = np.full(n, _INF)
    post_max = np.full(n, _NEG)
    if idle is not None:
        pre_min = np.full(n, _INF)
        pre_max = np.full(n, _NEG)
    for k in range(nkeys):
        is_k = keys == k
        mk = _cummax(np.where(is_k, mark, _NEG))
        seen = mk > _NEG
        if idle is None:
            np.minimum(post_min, np.where(seen, mk, _INF), out=post_min)
            continue
        last = _cummax(np.where(is_k, proc, _NEG))
        active = seen & (proc - last <= idle)
        np.minimum(post_min, np.where(active, mk, _INF), out=post_min)
        np.maximum(post_max, mk, out=post_max)
        # Before row i: the keys as of row i - 1, judged at row i's processing time.
        mk_prev = np.concatenate(([_NEG], mk[:-1]))
        last_prev = np.concatenate(([_NEG], last[:-1]))
        active = (mk_prev > _NEG) & (proc - last_prev <= idle)
        np.minimum(pre_min, np.where(active, mk_prev, _INF), out=pre_min)
        np.maximum(pre_max, mk_prev, out=pre_max)
    if idle is None:
        buf = np.empty(n + 1, np.int64)
        buf[0] = _NEG
        np.maximum.accumulate(post_min, out=buf[1:])
        return Track(buf[:-1], buf[1:], proc)
    post = np.where(post_min < _INF, post_min, post_max)
    pre = np.where(pre_min < _INF, pre_min, pre_max)
    np.maximum(pre[1:], post[:-1], out=pre[1:])
    before = _cummax(pre)
    return Track(before, np.maximum(before, post), proc)


@dataclass
class Pairs:
    """(event, group, window) pairs, record-major with ``per_record`` pairs each.

    ``wid`` indexes the window table (``group``, ``start``, ``end``); invalid slots
    (a sliding slot that does not hold the event) have ``valid`` False."""

    per_record: int
    wid: np.ndarray
    end: np.ndarray
    valid: np.ndarray | None
    group: np.ndarray
    start: np.ndarray
    window_end: np.ndarray
    group_names: tuple[str, ...]


def fixed_window(spec: PipelineSpec) -> tuple[int, int, int, int]:
    """(size, step, slots per event, offset) for windows that are arithmetic in UTC
    milliseconds; raises Unsupported for the rest."""
    w = spec.window
    if w.kind == "tumbling":
        return w.size_ms, w.size_ms, 1, w.offset_ms
    if w.kind == "sliding":
        return w.size_ms, w.slide_ms, -(-w.size_ms // w.slide_ms), w.offset_ms
    if w.kind in ("day", "week") and w.tz == "UTC":
        # A UTC day is always 24 h; ISO weeks start on Monday, 1970-01-05 = epoch + 4 d.
        return (
            (DAY_MS, DAY_MS, 1, 0) if w.kind == "day" else (7 * DAY_MS, 7 * DAY_MS, 1, 4 * DAY_MS)
        )
    if w.kind == "global":
        return 0, 0, 1, 0
    raise Unsupported(f"{w.describe()} windows (sessions merge, zoned calendars shift)")


def build_pairs(a, spec: PipelineSpec) -> Pairs:
    size, step, slots, offset = fixed_window(spec)
    et, n = a.event_time_ms, len(a)
    groups, group_names = a.group_codes(spec.group_by)  # (n, G) or (1, G) broadcastable
    ngroups = len(group_names)
    per = groups.shape[1] * slots
    if size == 0:  # the global window
        sidx = np.zeros(n, np.int64)
    else:
        sidx = (et - offset) // step
    if slots == 1 and groups.shape[1] == 1:
        s_min = int(sidx.min()) if n else 0
        span = (int(sidx.max()) - s_min + 1) if n else 1
        wid = sidx - s_min if s_min else sidx.copy()
        if groups.shape[0] > 1:
            wid += groups[:, 0].astype(np.int64) * span
        elif groups[0, 0]:
            wid += int(groups[0, 0]) * span
        valid = None
        slot_idx = sidx
    else:
        back = np.arange(slots, dtype=np.int64)
        slot_idx = (sidx[:, None, None] - back[None, None, :]) + np.zeros(
            (1, groups.shape[1], 1), np.int64
        )
        s_min = int(slot_idx.min()) if n else 0
        span = (int(slot_idx.max()) - s_min + 1) if n else 1
        wid = (slot_idx - s_min) + groups[:, :, None].astype(np.int64) * span
        valid = None
        if slots > 1:
            valid = (slot_idx * step + offset + size > et[:, None, None]).ravel()
        wid, slot_idx = wid.ravel(), slot_idx.ravel()
    if size == 0:
        end = np.full(len(wid), np.int64(POS_INF_MS))
    else:
        end = slot_idx * step
        end += offset + size
    total = ngroups * span
    if total <= _DENSE_LIMIT:
        table = np.arange(total, dtype=np.int64)
    else:  # sparse ids (long spans of tiny windows, many keys): compact them
        table, wid = np.unique(wid, return_inverse=True)
    g, s = np.divmod(table, span)
    s += s_min
    if size == 0:
        start = np.full(len(table), np.int64(NEG_INF_MS))
        wend = np.full(len(table), np.int64(POS_INF_MS))
    else:
        start = s * step + offset
        wend = start + size
    return Pairs(per, wid, end, valid, g, start, wend, group_names)


@dataclass
class Classified:
    """Per-pair outcome codes, per-record best outcome and per-window class sums."""

    pair_code: np.ndarray
    record_code: np.ndarray
    late_rows: np.ndarray  # records of accepted late pairs (pairs order)
    late_wids: np.ndarray
    recompute_wids: np.ndarray  # windows flagged for a recompute from the raw log
    every: LatePanes | None = None  # late every:D panes (None: one pane per late pair)


def classify(a, track: Track, pairs: Pairs, spec: PipelineSpec) -> Classified:
    per = pairs.per_record
    w = track.before if per == 1 else np.repeat(track.before, per)
    lat_src = np.array([spec.lateness_for(s) for s in a.source_names] or [0], np.int64)
    act_src = np.array(
        [ACTION_CODES[spec.action_for(s)] for s in a.source_names] or [LATE], np.uint8
    )
    one_lat = len(np.unique(lat_src)) == 1
    one_act = len(np.unique(act_src)) == 1
    src = None
    if not (one_lat and one_act):
        src = a.source_codes if per == 1 else np.repeat(a.source_codes, per)
    lat = lat_src[0] if one_lat else lat_src[src]
    act = act_src[0] if one_act else act_src[src]

    gap = np.subtract(w, pairs.end)  # W - end: < 0 on time, >= L too late
    code = np.where(gap >= lat, np.uint8(TOO_LATE), act).astype(np.uint8, copy=False)
    code[gap < 0] = ON_TIME
    del gap
    if pairs.valid is not None:
        code[~pairs.valid] = INVALID

    # Flagged for recompute: a queued pair of a source whose action is recompute.
    # side_output and recompute share the SIDE code, so ``act`` cannot tell them
    # apart: look the action up per source, whatever the other sources do.
    recompute_wids = np.zeros(0, np.int64)
    is_rec = np.array([spec.action_for(s) == "recompute" for s in a.source_names] or [False])
    if is_rec.any():
        if is_rec.all():
            flag = code == SIDE
        else:
            rec_src = a.source_codes if per == 1 else np.repeat(a.source_codes, per)
            flag = (code == SIDE) & is_rec[rec_src]
        recompute_wids = np.unique(pairs.wid[flag])

    late_idx = np.flatnonzero(code == LATE)
    cap = spec.max_updates_per_window
    every = None
    if spec.trigger.late == "none" and len(late_idx):
        # No late firings: only a window that never fired (no on-time pair) takes
        # its first late update, which fires it; the rest is queued (side output).
        fired = np.zeros(len(pairs.start), bool)
        fired[pairs.wid[code == ON_TIME]] = True
        lw = pairs.wid[late_idx]
        keep = np.zeros(len(late_idx), bool)
        if cap is None or cap > 0:
            keep[np.unique(lw, return_index=True)[1]] = True
            keep &= ~fired[lw]
        code[late_idx[~keep]] = SIDE
        late_idx = late_idx[keep]
    elif spec.trigger.late == "every" and len(late_idx):
        fired = np.zeros(len(pairs.start), bool)
        fired[pairs.wid[code == ON_TIME]] = True
        every = late_every_panes(
            track.proc, track.first_reach, pairs.wid, pairs.window_end, per, late_idx, fired, spec
        )
        code[every.over_cap] = SIDE
        late_idx = every.accepted
    elif cap is not None and len(late_idx):
        # The k-th late update of a window (arrival order) is a version while k <= cap.
        lw = pairs.wid[late_idx]
        order = np.argsort(lw, kind="stable")
        sorted_w = lw[order]
        first = np.searchsorted(sorted_w, sorted_w, side="left")
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order)) - first
        over = late_idx[rank >= cap]
        code[over] = SIDE
        late_idx = late_idx[rank < cap]

    record_code = code if per == 1 else code.reshape(-1, per).min(axis=1)
    return Classified(
        pair_code=code,
        record_code=record_code,
        late_rows=late_idx // per,
        late_wids=pairs.wid[late_idx],
        recompute_wids=recompute_wids,
        every=every,
    )


@dataclass
class WindowTable:
    """Per (group, window) arrays, only windows that hold at least one pair.
    Sums are ``[on-time, accepted late, not counted]`` columns per metric;
    ``pair_*`` are per pair outcome code (OUTCOME_NAMES order)."""

    group: np.ndarray
    start: np.ndarray
    end: np.ndarray
    events: np.ndarray  # (w, 3)
    cents: np.ndarray
    orders: np.ndarray
    items: np.ndarray
    on_time_row: np.ndarray  # record row of the on-time firing (n = end of input)
    late_panes: np.ndarray  # late versions
    early_panes: np.ndarray  # early versions (after-first timers; per-record: on-time pairs)
    last_late_at_ms: np.ndarray  # processing time of the last late version, -1: none
    recompute: np.ndarray  # bool: flagged for a recompute from the raw log
    peak_open: int
    pair_counts: np.ndarray  # (5,)
    pair_cents: np.ndarray


def aggregate(a, track: Track, pairs: Pairs, cl: Classified, spec: PipelineSpec) -> WindowTable:
    """Every per-window sum from one index: ``(wid * 8 + code) * 2 + is_order`` —
    one bincount (events and orders), two integer add.at (cents, items), one
    minimum.at (the first counted pair opens the window's state)."""
    per, n = pairs.per_record, len(a)
    nw = len(pairs.start)
    idx = pairs.wid * 16
    idx += cl.pair_code.astype(np.int64) << 1
    idx += a.is_order if per == 1 else np.repeat(a.is_order, per)
    size = nw * 16

    def sums(values: np.ndarray) -> np.ndarray:
        out = np.zeros(size, np.int64)
        # int64 adds are exact to the cent (and a mixed-dtype add.at is 50x slower)
        values = np.asarray(values, np.int64)
        np.add.at(out, idx, values if per == 1 else np.repeat(values, per))
        return out.reshape(nw, 8, 2)

    counts = np.bincount(idx, minlength=size).reshape(nw, 8, 2).astype(np.int64)
    cents = sums(a.amount_cents)
    items = sums(a.items)
    rows = np.arange(n, dtype=np.int64) if per == 1 else np.repeat(np.arange(n), per)
    first_at = np.full(size, n, np.int64)
    np.minimum.at(first_at, idx, rows)
    del rows

    def classes(x: np.ndarray) -> np.ndarray:  # on time | late | side, dropped, too late
        x = x.sum(axis=2)
        return np.column_stack([x[:, 0], x[:, 1], x[:, 2:5].sum(axis=1)])

    events = classes(counts)
    orders = classes(counts[:, :, 1:])
    # Creation: the first counted pair (on-time pairs all precede late ones).
    first = first_at.reshape(nw, 8, 2)[:, :2].min(axis=(1, 2))
    keep = np.flatnonzero(events.sum(axis=1))

    has_on_time = events[:, 0] > 0
    on_time_row = np.full(nw, -1, np.int64)
    fire_row, _ = track.first_reach(pairs.window_end[has_on_time])
    on_time_row[has_on_time] = fire_row
    early_panes = np.zeros(nw, np.int64)
    if spec.trigger.early == "per-record":
        early_panes = events[:, 0]
    elif spec.trigger.early == "after-first":
        early_panes = after_first_panes(
            track.proc,
            pairs.wid,
            per,
            np.flatnonzero(cl.pair_code == ON_TIME),
            on_time_row,
            nw,
            spec.trigger.early_delay_ms,
        )
    if cl.every is not None:
        late_panes, last_late_at = cl.every.count, cl.every.last_at_ms
    else:  # one late version per accepted late pair, at its arrival
        late_panes = events[:, 1]
        last_late_row = np.full(nw, -1, np.int64)
        np.maximum.at(last_late_row, cl.late_wids, cl.late_rows)
        last_late_at = np.where(last_late_row >= 0, track.proc[np.maximum(last_late_row, 0)], -1)
    recompute = np.zeros(nw, bool)
    recompute[cl.recompute_wids] = True

    # Open state sampled after each record: created at row c, gone from the first
    # row whose watermark reaches end + max lateness (cleanup), as in the operator.
    created = np.flatnonzero(first < n)
    close_row, _ = track.first_reach(pairs.window_end[created] + spec.max_lateness_ms())
    peak = 0
    if n and len(created):
        marks = np.concatenate([first[created], close_row])
        step = np.concatenate([np.ones(len(created), np.int64), -np.ones(len(created), np.int64)])
        order = np.argsort(marks, kind="stable")
        at, level = marks[order], np.cumsum(step[order])
        # the level after the last change at each row, for rows < n
        last_of_row = np.flatnonzero(np.append(at[1:] != at[:-1], True))
        inside = at[last_of_row] < n
        peak = int(level[last_of_row][inside].max(initial=0))
    return WindowTable(
        group=pairs.group[keep],
        start=pairs.start[keep],
        end=pairs.window_end[keep],
        events=events[keep],
        cents=classes(cents)[keep],
        orders=orders[keep],
        items=classes(items)[keep],
        on_time_row=on_time_row[keep],
        late_panes=late_panes[keep],
        early_panes=early_panes[keep],
        last_late_at_ms=last_late_at[keep],
        recompute=recompute[keep],
        peak_open=peak,
        pair_counts=counts.sum(axis=(0, 2))[:5],
        pair_cents=cents.sum(axis=(0, 2))[:5],
    )
