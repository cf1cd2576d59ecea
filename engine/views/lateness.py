"""Reads behind the Lateness page: the events it measures, in one read of the raw log."""

from __future__ import annotations

import pandas as pd

from engine.store.db import Store
from engine.store.raw_metrics import events_arrived_or_happened

# what the report reads of each event (the delays, values and sources it measures)
ANALYSED_COLUMNS = ("source", "amount_cents", "event_time_ms", "arrival_time_ms")


def range_events(store: Store, from_ms: int, to_ms: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events that *arrived* in [from_ms, to_ms) (delays, drift) and events that
    *happened* in it (the completeness backtest), each in log order — split from one
    read (raw-log ids are unique: nothing to de-duplicate)."""
    both = events_arrived_or_happened(store, from_ms, to_ms, ANALYSED_COLUMNS)
    arrival = both["arrival_time_ms"].to_numpy()
    event = both["event_time_ms"].to_numpy()
    arrived = both.loc[(arrival >= from_ms) & (arrival < to_ms)].reset_index(drop=True)
    happened = both.loc[(event >= from_ms) & (event < to_ms)].reset_index(drop=True)
    return arrived, happened
