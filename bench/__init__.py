"""Benchmarks, one sub-package each, run together by ``python -m bench`` (``make bench``).

Each sub-package ``bench.<name>`` exposes ``run() -> dict`` (its figures, with a boolean
``goal_met`` when it has a goal) and ``main() -> int`` (prints them; ``python -m
bench.<name>``). Known: ``emit``, ``fuzz``, ``spark``, ``torch``, ``query``, ``pipeline``.
"""

#: Benchmarks in the order ``python -m bench`` runs them.
BENCHES = ("emit", "fuzz", "spark", "torch", "query", "pipeline")
