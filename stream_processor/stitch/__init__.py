"""Run stitching: the events of one run (START, RUNNING, COMPLETE / FAIL / ABORT, OTHER) merged
into one :class:`RunState`, independent of arrival order.

The state is a join-semilattice (a state-based CRDT, Shapiro et al., "Conflict-free Replicated
Data Types", 2011): every part is a last-writer-wins register ordered by
``(eventTime, eventId, value)``, a min/max register, a map of registers or a set union. Merging
an event is therefore commutative, associative and idempotent: any permutation of a run's
events, with any duplicates, yields an identical state (``tests/test_stitching_*.py`` checks it
with hypothesis). The rules, after the failures users report (Marquez #2264, DataHub #13854):

- a terminal state (COMPLETE, FAIL, ABORT) wins and is never replaced by a late START/RUNNING;
  among terminals the latest ``eventTime`` wins;
- per facet (and per parameter, metric and extra facet key) the latest ``eventTime`` wins; a
  facet absent from an event changes nothing;
- inputs and outputs are unions keyed by the normalised ``namespace:name``
  (:mod:`lineage_pipeline.naming`), their facets merged the same way; their columns
  (schema, per-column statistics) and column lineage pairs are unions too;
- ``startTime`` is the (earliest) START's ``eventTime``; ``endTime`` the winning terminal's;
- ``seen`` (the run's latest events, for dedupe) keeps the top
  :data:`~stream_processor.stitch.runs.SEEN_EVENTS_KEPT` of the union by
  ``(eventTime, digest)``: bounded, and still independent of the order.

The state is plain JSON once dumped (:meth:`RunState.to_json`), so it lives in a Faust table.

Modules: :mod:`~stream_processor.stitch.registers` (last-writer-wins registers),
:mod:`~stream_processor.stitch.datasets` (:class:`DatasetState`),
:mod:`~stream_processor.stitch.runs` (:class:`RunState`) and
:mod:`~stream_processor.stitch.merge` (:func:`merge_event`, :func:`stitch`).
"""

from __future__ import annotations

from stream_processor.stitch.datasets import DATASET_FACETS, DatasetState
from stream_processor.stitch.merge import VersionResolver, merge_event, stitch
from stream_processor.stitch.registers import Reg, lww
from stream_processor.stitch.runs import RunState

__all__ = [
    "DATASET_FACETS",
    "DatasetState",
    "Reg",
    "RunState",
    "VersionResolver",
    "lww",
    "merge_event",
    "stitch",
]
