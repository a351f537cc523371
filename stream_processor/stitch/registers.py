"""The registers run states are built of: last-writer-wins registers and maps of them.

A register write is ordered by ``(eventTime, eventId, value)`` (a total order), so the winner
of any set of writes does not depend on the order they are merged in (a state-based CRDT,
Shapiro et al., "Conflict-free Replicated Data Types", 2011).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class Reg(NamedTuple):
    """A last-writer-wins register: value ``v`` written by event ``id`` at ``t`` (epoch ms).

    A named tuple, not a model: a run state holds hundreds of registers and every event
    writes dozens, so building one must cost a tuple, not a validation. In the stored state
    (a pydantic model's JSON) a register is the array ``[t, id, v]``; the object form
    ``{"t", "id", "v"}`` of earlier states is still read."""

    t: int
    id: str
    v: Any = None

    def order_key(self) -> tuple[int, str, str]:
        """Total order of writes: event time, then event id, then the value itself."""
        return (self.t, self.id, _canonical(self.v))


def lww(current: Reg | None, incoming: Reg) -> Reg:
    """Return the winner of two writes of one register (the later one by :meth:`Reg.order_key`)."""
    if current is None:
        return incoming
    a, b = (incoming.t, incoming.id), (current.t, current.id)
    if a != b:
        return incoming if a > b else current
    # same event written twice (a duplicate): only a differing value needs the full order
    return incoming if incoming.order_key() > current.order_key() else current


def merge_map(target: dict[str, Reg], key: str, incoming: Reg) -> None:
    """Write ``incoming`` to the register ``target[key]`` (in place; :func:`lww` decides)."""
    target[key] = lww(target.get(key), incoming)


#: ``tuple.__new__``: builds a :class:`Reg` without the Python frame of a named tuple's own
#: ``__new__`` (a tenth of the stitching time, at hundreds of registers per event).
_new_reg: Callable[[type[Reg], tuple[int, str, Any]], Reg] = tuple.__new__


def merge_rows(target: dict[str, Reg], rows: Iterable[tuple[str, Any]], t: int,
               event_id: str) -> None:
    """:func:`merge_map` of ``Reg(t, event_id, value)`` for each ``(key, value)`` of ``rows``
    (in place), in one loop: an event writes a register per column and per column-lineage
    pair, hundreds per event, so :func:`lww` is called only for what its first comparison
    does not settle (no register yet, or the same ``(t, id)``: a duplicate)."""
    for key, value in rows:
        current = target.get(key)
        if current is None or (t, event_id) > (current.t, current.id):
            target[key] = _new_reg(Reg, (t, event_id, value))
        elif (t, event_id) == (current.t, current.id):
            target[key] = lww(current, Reg(t, event_id, value))
