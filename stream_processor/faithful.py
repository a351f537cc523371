"""Values the graph cannot hold faithfully, normalised by one rule before stitching.

Every decoded event (:func:`normalise_event`, on the wire record both topics decode to) goes
through this rule before its run's state sees it. Nothing is rejected for its values:

=============================================  ==============================  ===============
value (anywhere in the event, map keys too)    becomes                         flag ``rule``
=============================================  ==============================  ===============
float NaN, +Infinity, -Infinity                ``null``; in the ``metrics``    ``non_finite``
                                               map, the entry is left out
NaN / Infinity inside the JSON text of an      the text parsed, those          ``non_finite``
``extra`` facet                                numbers ``null``, dumped again
text with NUL or a lone surrogate              each such character U+FFFD      ``text``
                                               (:func:`~lineage_pipeline.graph_model.graph_text`)
text over :data:`MAX_TEXT_CHARS` characters    its first :data:`MAX_TEXT_CHARS` ``truncated``
(not an identity field: :data:`IDENTITY_KEYS`)  characters; an ``extra`` facet's
                                               JSON text becomes
                                               ``{"lineageTruncated": {"chars", "sha256"}}``
=============================================  ==============================  ===============

Identity fields (dataset and job ``namespace`` / ``name``, ``runId``, ``eventId``) keep any
length: the graph stores them whole and bounds only their uids
(:func:`~lineage_pipeline.graph_model.bounded_uid`), so a dataset is found by its full name.

The walk costs about 0.9 ms for a 10 KB event, so it runs only on events that may need it
(:func:`may_need_normalising`, from the raw bytes: well under 2 us an event): OpenLineage JSON
that spells ``NaN``, ``Infinity``, ``\\u0000`` or a lone surrogate escape; Avro whose bytes
hold a double with all exponent bits set (IEEE 754: a non-finite one; Avro doubles appear
only as run metrics and column statistics, which are then checked) -- and any event longer
than :data:`MAX_TEXT_CHARS` bytes. An Avro string cannot hold a lone surrogate (it is UTF-8);
a NUL in one is not visible in the bytes (Avro writes zero bytes for nulls, zeros and empty
arrays): it is caught where the text enters the graph instead. Building a run's graph record
passes every text through :func:`~lineage_pipeline.graph_model.graph_text` (the same
character rule), which counts what it replaces, and the processor flags the run
(:func:`flag_replaced_text`: path ``graph record``, rule ``text``); texts kept as JSON
(facets, parameters) escape a NUL and need nothing.

Each replacement is flagged: the run gets the custom run facet :data:`FACET` (JSON text
``{"count": N, "values": [{"path": "run.facets.metrics.loss", "rule": "non_finite"}, ...]}``,
the first :data:`MAX_FLAGGED_PATHS` paths), which the graph keeps with the run's other
facets, and ``lineage_processor_normalised_values_total{rule}`` counts them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from lineage_pipeline.graph_model import graph_text
from lineage_pipeline.metrics import NORMALISED_VALUES
from stream_processor.stitch import RunState
from stream_processor.stitch.registers import Reg

#: Longest text value kept whole, characters (identity fields excepted).
MAX_TEXT_CHARS = 65_536
#: Fields whose text is an identity and is never shortened.
IDENTITY_KEYS = frozenset({"namespace", "name", "runId", "eventId"})
#: The run facet that flags what was normalised.
FACET = "lineage_normalised"
#: Paths listed in :data:`FACET` at most (``count`` counts them all).
MAX_FLAGGED_PATHS = 50
#: A JSON number token that is not finite, as Python's ``json`` writes and reads it.
_NON_FINITE_TOKEN = re.compile(r"NaN|Infinity")
#: What OpenLineage JSON bytes hold when a value may need the rule (``\\u0000``, a lone
#: surrogate escape, a non-finite number).
_JSON_SUSPECT = re.compile(rb"NaN|Infinity|\\u0000|\\u[dD][89abcdefABCDEF]")


def _avro_double_not_finite(raw: bytes) -> bool:
    """``True`` when ``raw`` holds 8 bytes that may be a little-endian IEEE 754 double with
    every exponent bit set (NaN or an infinity: byte 7 is ``0x7f``/``0xff``, byte 6 at least
    ``0xf0``); false positives (about 6 % of realistic events) are cleared by
    :func:`_doubles_not_finite`."""
    for marker in (b"\x7f", b"\xff"):
        at = raw.find(marker, 1)
        while at != -1:
            if raw[at - 1] >= 0xF0:
                return True
            at = raw.find(marker, at + 1)
    return False


def _doubles_not_finite(event: dict[str, Any]) -> bool:
    """``True`` when a double of the Avro event record (run metrics, column statistics'
    ``min``/``max``/``mean``) is not finite."""
    run_facets = (event.get("run") or {}).get("facets") or {}
    if any(not math.isfinite(v) for v in (run_facets.get("metrics") or {}).values()):
        return True
    for side in ("inputs", "outputs"):
        for ds in event.get(side) or ():
            stats = (ds.get("facets") or {}).get("statistics") or {}
            for column in stats.get("columns") or ():
                for key in ("min", "max", "mean"):
                    value = column.get(key)
                    if value is not None and not math.isfinite(value):
                        return True
    return False


def may_need_normalising(raw: bytes, openlineage: bool) -> bool:
    """``True`` when the event in message value ``raw`` (OpenLineage JSON when
    ``openlineage``, else Avro) may hold a value :func:`normalise_event` changes; ``False``
    only when it holds none (up to an Avro string with a NUL, see the module docstring)."""
    if len(raw) > MAX_TEXT_CHARS:
        return True
    if openlineage:
        return _JSON_SUSPECT.search(raw) is not None
    return _avro_double_not_finite(raw)


def _finite(value: Any) -> tuple[Any, bool]:
    """``value`` (decoded JSON) with every non-finite float ``None``; whether one was."""
    found = False
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in list(items):
            if isinstance(item, float) and not math.isfinite(item):
                node[key] = None
                found = True
            elif isinstance(item, dict | list):
                stack.append(item)
    if isinstance(value, float) and not math.isfinite(value):
        return None, True
    return value, found


class _Walk:
    """One event's walk: the flags so far."""

    def __init__(self) -> None:
        self.flags: list[dict[str, str]] = []
        self.count = 0

    def flag(self, path: str, rule: str) -> None:
        self.count += 1
        NORMALISED_VALUES.labels(rule=rule).inc()
        if len(self.flags) < MAX_FLAGGED_PATHS:
            self.flags.append({"path": path, "rule": rule})

    def text(self, value: str, path: str, key: str, json_text: bool) -> str:
        """The normalised ``value`` of field ``key`` (``json_text``: an extra facet's)."""
        carried = graph_text(value)  # the graph's one character rule (fast for ASCII)
        if carried != value:
            value = carried
            self.flag(path, "text")
        if json_text and _NON_FINITE_TOKEN.search(value):
            try:
                parsed, changed = _finite(json.loads(value))
            except (ValueError, RecursionError):
                changed = False
            if changed:
                value = json.dumps(parsed, separators=(",", ":"), allow_nan=False)
                self.flag(path, "non_finite")
        if len(value) > MAX_TEXT_CHARS and key not in IDENTITY_KEYS:
            self.flag(path, "truncated")
            if json_text:
                digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
                return json.dumps({"lineageTruncated": {"chars": len(value), "sha256": digest}})
            return value[:MAX_TEXT_CHARS]
        return value

    def walk(self, event: dict[str, Any]) -> None:
        """Normalise ``event`` in place."""
        stack: list[tuple[Any, str, str]] = [(event, "", "")]
        while stack:
            node, path, field = stack.pop()
            if isinstance(node, dict):
                for key in list(node):
                    item = node[key]
                    name = graph_text(key) if isinstance(key, str) else key
                    if name != key:
                        node[name] = node.pop(key)
                        self.flag(f"{path}.{name}".lstrip("."), "text")
                    self._item(node, name, item, f"{path}.{name}".lstrip("."), field, stack)
            else:
                for index, item in enumerate(node):
                    self._item(node, index, item, f"{path}[{index}]", "", stack)

    def _item(self, node: Any, key: Any, item: Any, path: str, field: str,
              stack: list[tuple[Any, str, str]]) -> None:
        """Normalise ``node[key]`` (``item``); ``field``: the key ``node`` is held under."""
        if isinstance(item, str):
            new = self.text(item, path, key if isinstance(key, str) else "", field == "extra")
            if new is not item:
                node[key] = new
        elif isinstance(item, float):
            if not math.isfinite(item):
                if field == "metrics":
                    del node[key]
                else:
                    node[key] = None
                self.flag(path, "non_finite")
        elif isinstance(item, dict | list):
            stack.append((item, path, key if isinstance(key, str) else ""))


def normalise_if_needed(event: dict[str, Any], raw: bytes, openlineage: bool) -> int:
    """:func:`normalise_event` of ``event`` (decoded from message value ``raw``) when
    :func:`may_need_normalising` says it may need it; returns the values normalised."""
    if not may_need_normalising(raw, openlineage):
        return 0
    if not openlineage and len(raw) <= MAX_TEXT_CHARS and not _doubles_not_finite(event):
        return 0
    return normalise_event(event)


def normalise_event(event: dict[str, Any]) -> int:
    """Apply the module's rule to decoded event record ``event`` (nested dicts and lists, the
    wire record of :mod:`lineage_pipeline.codec`) in place; add the :data:`FACET` run facet
    when anything changed. Returns the number of values normalised. Never raises for any
    value (any nesting depth: the walk is iterative)."""
    walk = _Walk()
    walk.walk(event)
    if walk.count:
        run = event.setdefault("run", {})
        facets = run.get("facets") or {}
        run["facets"] = facets
        extra = facets.get("extra") or {}
        facets["extra"] = extra
        extra[FACET] = json.dumps({"count": walk.count, "values": walk.flags})
    return walk.count


#: The path :func:`flag_replaced_text` names: text the graph record of the run carries.
GRAPH_TEXT_PATH = "graph record"


def flag_replaced_text(state: RunState, replaced: int) -> bool:
    """Flag run ``state`` (in place) for ``replaced`` characters that building its graph
    record replaced by :func:`~lineage_pipeline.graph_model.graph_text`: a NUL in a string of
    an Avro event, which :func:`may_need_normalising` cannot see in the raw bytes, is caught
    where the text enters the graph. The :data:`FACET` run facet gets one ``text`` entry at
    path :data:`GRAPH_TEXT_PATH` (once per run: later publications of the same text do not
    count again) and the metric counts it. Returns whether the state changed."""
    if replaced <= 0:
        return False
    reg = state.runExtra.get(FACET)
    try:
        flagged = json.loads(str(reg.v)) if reg is not None else {"count": 0, "values": []}
    except ValueError:
        flagged = {"count": 0, "values": []}
    entry = {"path": GRAPH_TEXT_PATH, "rule": "text"}
    if not isinstance(flagged, dict) or entry in (flagged.get("values") or []):
        return False
    flagged["count"] = int(flagged.get("count") or 0) + replaced
    flagged["values"] = [*(flagged.get("values") or []), entry][:MAX_FLAGGED_PATHS]
    NORMALISED_VALUES.labels(rule="text").inc(replaced)
    state.runExtra[FACET] = Reg(state.lastSeen, reg.id if reg is not None else "",
                                json.dumps(flagged))
    return True
