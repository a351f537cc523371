"""What the root-cause walk collects: the runs it met, the changed input versions, the
candidates, and the parent links that give every candidate its chain down to the bad run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lineage_queries.answers import CandidateDraft, DataEvidence, FieldProps


@dataclass
class Run:
    """A run met on the walk: properties (JSON parsed), job uid and inputs by dataset."""

    uid: str
    props: dict[str, Any]
    job: str | None
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Change:
    """A changed input version on the bad side, paired with the baseline's version."""

    uid: str
    dataset: str
    props: dict[str, Any]
    fields: list[FieldProps]
    base: dict[str, Any] | None
    distance: int
    consumer: str
    producer: dict[str, Any] | None
    base_producer: dict[str, Any] | None
    evidence: DataEvidence | None = None
    followed: bool = False


@dataclass
class WalkState:
    """Everything the walk collected."""

    runs: dict[str, Run] = field(default_factory=dict)
    changes: dict[str, Change] = field(default_factory=dict)
    candidates: list[CandidateDraft] = field(default_factory=list)
    #: node -> the node one step nearer the bad run (for chains)
    parent: dict[str, str] = field(default_factory=dict)
    #: run uid (bad side) -> changed input version uids / run-level candidate ids
    run_causes: dict[str, list[str]] = field(default_factory=dict)
    #: bad-side run uid -> True when its inputs, code and parameters match its counterpart
    run_same: dict[str, bool] = field(default_factory=dict)
    #: (run uid, input version uid, producer run uid) of every input on the path
    inputs_seen: list[tuple[str, str, str]] = field(default_factory=list)


def distance_of(st: WalkState, node: str) -> int:
    return len(chain(st, node)) - 1


def chain(st: WalkState, node: str) -> list[str]:
    """Nodes from ``node`` down to the bad run (following :attr:`WalkState.parent`)."""
    out = [node]
    seen = {node}
    while out[-1] in st.parent:
        nxt = st.parent[out[-1]]
        if nxt in seen:
            break
        out.append(nxt)
        seen.add(nxt)
    return out
