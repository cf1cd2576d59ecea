"""What an order is, in the sender's words (``[orders]`` in latewatch.toml).

latewatch counts ``order.placed`` events as orders and sums every event's amount
into revenue (refunds and adjustments carry negative amounts). A sender whose
events say ``purchase`` / ``return`` and carry ``total`` / ``qty`` configures:

    [orders]
    order_types = ["purchase"]
    refund_types = ["return"]
    amount_field = "total"
    items_field = "qty"

and every way in (``POST /events``, ``python -m engine ingest`` from a file, stdin
or a watched folder) maps each record before validation: the amount and item
fields are read from the configured names, the listed order types are recorded
as ``order.placed`` and the refund types as ``order.refunded`` (the first
configured refund type) or ``order.adjusted`` (the others). Unlisted types are
validated as they are (unknown ones quarantined with a reason, as today).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from engine.core.events import ORDER_TYPE

REFUND_TYPE = "order.refunded"
ADJUSTMENT_TYPE = "order.adjusted"


@dataclass(frozen=True)
class Vocabulary:
    order_types: tuple[str, ...] = (ORDER_TYPE,)
    refund_types: tuple[str, ...] = (REFUND_TYPE, ADJUSTMENT_TYPE)
    amount_field: str = "amount"
    items_field: str = "items"

    @classmethod
    def from_config(cls, orders: dict | None) -> Vocabulary:
        return cls(**(orders or {}))

    @property
    def is_default(self) -> bool:
        return self == Vocabulary()

    def type_map(self) -> dict[str, str]:
        out = {t: ORDER_TYPE for t in self.order_types}
        for i, t in enumerate(self.refund_types):
            out[t] = REFUND_TYPE if i == 0 else ADJUSTMENT_TYPE
        return out

    def map_record(self, record: object, _types: dict | None = None) -> object:
        """One input record in latewatch's words; anything not a dict passes through
        (malformed rows are quarantined by the ingest path as usual)."""
        if not isinstance(record, dict):
            return record
        types = self.type_map() if _types is None else _types
        out = dict(record)
        if self.amount_field != "amount" and self.amount_field in out:
            out["amount"] = out.pop(self.amount_field)
        if self.items_field != "items" and self.items_field in out:
            out["items"] = out.pop(self.items_field)
        etype = out.get("event_type")
        if isinstance(etype, str) and etype in types:
            out["event_type"] = types[etype]
        return out

    def map_records(self, records: Iterable[object]) -> Iterator[object]:
        """``map_record`` over dicts or ``(line, record)`` pairs (the readers' shape)."""
        if self.is_default:
            yield from records
            return
        types = self.type_map()
        for item in records:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int):
                yield item[0], self.map_record(item[1], types)
            else:
                yield self.map_record(item, types)
