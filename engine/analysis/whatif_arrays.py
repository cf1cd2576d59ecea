"""An events table as numpy columns, the input of the vectorized what-if replay.

Strings (sources, keys) become integer codes into name tuples, so 10 M rows cost no
Python objects; ``events()`` turns rows back into ``Event`` objects for the
event-at-a-time operator (the fallback path and the agreement tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.core.events import ORDER_TYPE, Event


@dataclass
class EventArrays:
    """An events table as numpy columns (rows in arrival order). Strings are codes
    into name tuples so that 10 M rows cost no Python objects."""

    event_time_ms: np.ndarray
    arrival_time_ms: np.ndarray
    amount_cents: np.ndarray
    items: np.ndarray
    is_order: np.ndarray
    source_codes: np.ndarray
    source_names: tuple[str, ...]
    key_codes: np.ndarray | None = None  # -1 = no key
    key_names: tuple[str, ...] = ()
    event_ids: np.ndarray | None = None
    event_types: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.event_time_ms)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame | Mapping) -> EventArrays:
        """From ``Store.events_frame()`` columns (or a dict of them)."""
        df = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(dict(frame))
        if df["arrival_time_ms"].isna().any():
            raise ValueError("every event needs an arrival time: it is the replay's clock")
        src_codes, src_names = pd.factorize(df["source"].astype(str))
        key_codes, key_names = None, ()
        if "key" in df:
            codes, names = pd.factorize(df["key"])
            key_codes, key_names = codes.astype(np.int64), tuple(map(str, names.tolist()))
        if "is_order" in df:
            is_order = df["is_order"].to_numpy(bool)
            types = None
        else:
            types = df["event_type"].to_numpy()
            is_order = types == ORDER_TYPE
        return cls(
            event_time_ms=df["event_time_ms"].to_numpy(np.int64),
            arrival_time_ms=df["arrival_time_ms"].to_numpy(np.int64),
            amount_cents=df["amount_cents"].to_numpy(np.int64),
            items=df["items"].to_numpy(np.int64) if "items" in df else np.zeros(len(df), np.int64),
            is_order=np.asarray(is_order, bool),
            source_codes=src_codes.astype(np.int64),
            source_names=tuple(map(str, src_names.tolist())),
            key_codes=key_codes,
            key_names=key_names,
            event_ids=df["event_id"].to_numpy() if "event_id" in df else None,
            event_types=types,
        )

    def _key_names_or(self, missing: str) -> list[str]:
        return [k if k else missing for k in self.key_names]

    def group_codes(self, group_by: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """Per-record group codes, shape (n, groups) or (1, 1); mirrors
        ``WindowOperator._groups``."""
        if group_by == "none":
            return np.zeros((1, 1), np.int64), ("*",)
        if group_by == "source":
            return self.source_codes[:, None], self.source_names
        if group_by == "all+source":
            both = np.column_stack([np.zeros(len(self), np.int64), self.source_codes + 1])
            return both, ("*", *self.source_names)
        names = self._key_names_or("-") + ["-"]  # code -1 (no key) -> last entry
        uniq = list(dict.fromkeys(names))
        lut = np.array([uniq.index(x) for x in names], np.int64)
        codes = self.key_codes if self.key_codes is not None else np.full(len(self), -1)
        return lut[codes][:, None], tuple(uniq)

    def watermark_keys(self, by_source: bool) -> tuple[np.ndarray, int]:
        """Per-record watermark key codes: the source, or the event key (falling back
        to the source when the event has none), as ``WatermarkGenerator`` keys them."""
        if by_source or self.key_codes is None:
            return self.source_codes, len(self.source_names)
        names = list(self.key_names) + list(self.source_names)
        uniq = list(dict.fromkeys(names))
        lut = np.array([uniq.index(x) for x in names], np.int64)
        combined = np.where(
            self.key_codes >= 0, self.key_codes, len(self.key_names) + self.source_codes
        )
        used, codes = np.unique(lut[combined], return_inverse=True)
        return codes, len(used)

    def events(self) -> list[Event]:
        """Event objects for the operator (fallback path and tests)."""
        n = len(self)
        ids = self.event_ids if self.event_ids is not None else np.arange(n).astype(str)
        keys = self.key_codes if self.key_codes is not None else np.full(n, -1)
        out = []
        for i in range(n):
            k = int(keys[i])
            etype = ORDER_TYPE if self.is_order[i] else "page.view"
            if self.event_types is not None:
                etype = str(self.event_types[i])
            out.append(
                Event(
                    event_id=str(ids[i]),
                    source=self.source_names[int(self.source_codes[i])],
                    event_time_ms=int(self.event_time_ms[i]),
                    arrival_time_ms=int(self.arrival_time_ms[i]),
                    amount_cents=int(self.amount_cents[i]),
                    items=int(self.items[i]),
                    event_type=etype,
                    key=self.key_names[k] if k >= 0 else None,
                )
            )
        return out
