"""Synthetic data as lineage: the generator run's seed, generator and fidelity.

:func:`record_generation` is called inside the run that fits a generator on a real dataset
(the *seed*) and writes a synthetic one. It records, on that run:

- the seed version as an input and the synthetic dataset as an output (declared by the
  caller, e.g. with ``BatchRun.input_file`` / ``output_file``);
- the run facet ``syntheticGenerator``: ``{"library", "libraryVersion", "model",
  "parameters", "digest"}`` -- the generator's Python library and its installed version, its
  class, its parameters (``get_params()`` when it has one, plus any given) and the SHA-256
  of the fitted generator's pickle (the exact generator, as a model version is its digest);
- the run facet ``syntheticFidelity`` (:func:`fidelity`) and its overall figures as run
  metrics ``fidelity.<name>``, so ``lineage diff`` and root cause compare them like any metric.

A model trained on the synthetic dataset is then trained, transitively, on the real seed:
``lineage trained-on SEED`` lists it and ``lineage inputs MODEL`` reaches the seed.
``lineage synthetic DATASET`` reads the chain back (:mod:`lineage_queries.synthetic`).

Needs scipy and scikit-learn (the ``synthetic`` extra). Never raises into the job: a failure
is logged and counted in ``lineage_emitter_capture_errors_total{integration="synthetic"}``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import pickle
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lineage_pipeline.metrics import EMITTER_CAPTURE_ERRORS

if TYPE_CHECKING:
    import pandas as pd

    from emitters.run import RunContext

__all__ = [
    "FIDELITY_FACET",
    "GENERATOR_FACET",
    "fidelity",
    "generator_facet",
    "record_generation",
]

log = logging.getLogger("emitters.synthetic")

GENERATOR_FACET = "syntheticGenerator"
FIDELITY_FACET = "syntheticFidelity"
#: Rows sampled from each side for the multivariate measures (their cost grows with n^2).
MAX_ROWS = 1000
#: Distribution names of libraries whose import name differs.
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


def _mmd(x: Any, y: Any) -> float:
    """Squared maximum mean discrepancy with a Gaussian kernel, unbiased estimator
    (Gretton et al., "A Kernel Two-Sample Test", JMLR 13, 2012, eq. 3), bandwidth by the
    median heuristic over the pooled sample. ``x``, ``y``: arrays (n, d), (m, d)."""
    import numpy as np
    from sklearn.metrics.pairwise import euclidean_distances, rbf_kernel

    pooled = np.vstack([x, y])
    dist = euclidean_distances(pooled, squared=True)
    median = float(np.median(dist[np.triu_indices_from(dist, k=1)])) or 1.0
    k = rbf_kernel(pooled, gamma=1.0 / median)
    n, m = len(x), len(y)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
                 + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def _classifier_auc(x: Any, y: Any, random_state: int) -> float:
    """Classifier two-sample test (Lopez-Paz and Oquab, "Revisiting Classifier Two-Sample
    Tests", ICLR 2017): the 5-fold cross-validated ROC AUC of a logistic regression telling
    seed rows from synthetic ones; 0.5 means indistinguishable, 1.0 fully separable."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    data = np.vstack([x, y])
    labels = np.r_[np.zeros(len(x)), np.ones(len(y))]
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=random_state)
    scores = cross_val_score(LogisticRegression(max_iter=1000), data, labels, cv=folds,
                             scoring="roc_auc")
    return float(scores.mean())


def fidelity(seed: pd.DataFrame, synthetic: pd.DataFrame, *, categorical: Iterable[str] = (),
             random_state: int = 0) -> dict[str, Any]:
    """Fidelity of ``synthetic`` against ``seed`` (pandas DataFrames, columns compared by
    name; columns only one side has are skipped)::

        {"columns": {numeric column: {"wasserstein": W1 distance in the column's unit,
                                      "wassersteinNormalised": W1 / seed standard deviation},
                     categorical column: {"totalVariation": half the L1 distance of the
                                          category frequencies, 0..1}},
         "overall": {"wassersteinNormalisedMean": mean over numeric columns,
                     "mmd": squared MMD on standardised numeric columns (:func:`_mmd`),
                     "classifierAuc": classifier two-sample AUC (:func:`_classifier_auc`)},
         "rows": {"seed": n, "synthetic": m}}

    W1: ``scipy.stats.wasserstein_distance``. The multivariate measures use at most
    :data:`MAX_ROWS` rows of each side (sampled with ``random_state``). Raises ``ValueError``
    when the frames share no column.
    """
    from scipy.stats import wasserstein_distance

    cats = set(categorical)
    shared = [c for c in seed.columns if c in synthetic.columns]
    if not shared:
        raise ValueError("the seed and synthetic frames share no column")
    numeric = [c for c in shared if c not in cats and seed[c].dtype.kind in "ifub"]
    columns: dict[str, dict[str, float]] = {}
    for c in numeric:
        a, b = seed[c].dropna().astype(float), synthetic[c].dropna().astype(float)
        w = float(wasserstein_distance(a, b))
        std = float(a.std()) or 1.0
        columns[str(c)] = {"wasserstein": w, "wassersteinNormalised": w / std}
    for c in [c for c in shared if c not in numeric]:
        p = seed[c].astype(str).value_counts(normalize=True)
        q = synthetic[c].astype(str).value_counts(normalize=True)
        columns[str(c)] = {"totalVariation": float(0.5 * p.sub(q, fill_value=0).abs().sum())}
    overall: dict[str, float] = {}
    if numeric:
        overall["wassersteinNormalisedMean"] = float(sum(
            columns[str(c)]["wassersteinNormalised"] for c in numeric) / len(numeric))
        mean, std = seed[numeric].mean(), seed[numeric].std().replace(0, 1.0)
        x = ((seed[numeric] - mean) / std).dropna()
        y = ((synthetic[numeric] - mean) / std).dropna()
        x = x.sample(n=min(len(x), MAX_ROWS), random_state=random_state).to_numpy()
        y = y.sample(n=min(len(y), MAX_ROWS), random_state=random_state).to_numpy()
        overall["mmd"] = _mmd(x, y)
        overall["classifierAuc"] = _classifier_auc(x, y, random_state)
    return {"columns": columns, "overall": overall,
            "rows": {"seed": len(seed), "synthetic": len(synthetic)}}


def generator_facet(generator: Any, *, library: str | None = None,
                    parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``syntheticGenerator`` run facet of a fitted ``generator`` (see the module
    docstring). ``library`` defaults to the top-level package of its class."""
    from emitters.run import param_text

    top = library or type(generator).__module__.split(".")[0]
    try:
        version: str | None = importlib.metadata.version(_DISTRIBUTIONS.get(top, top))
    except importlib.metadata.PackageNotFoundError:
        version = None
    params: dict[str, str] = {}
    get_params = getattr(generator, "get_params", None)
    if callable(get_params):
        params.update({str(k): param_text(v) for k, v in get_params().items()})
    params.update({str(k): param_text(v) for k, v in (parameters or {}).items()})
    return {"library": top, "libraryVersion": version, "model": type(generator).__qualname__,
            "parameters": params,
            "digest": {"algorithm": "sha256",
                       "hex": hashlib.sha256(pickle.dumps(generator)).hexdigest()}}


def record_generation(run: RunContext, generator: Any, seed: pd.DataFrame,
                      synthetic: pd.DataFrame, *, categorical: Iterable[str] = (),
                      library: str | None = None, parameters: Mapping[str, Any] | None = None,
                      random_state: int = 0) -> dict[str, Any]:
    """Record a generator run on ``run`` (see the module docstring): the facets of
    ``generator`` fitted on ``seed`` that produced ``synthetic``. Returns the fidelity
    (:func:`fidelity`), ``{}`` when recording failed (logged and counted, never raised)."""
    try:
        run.add_run_facet(GENERATOR_FACET, generator_facet(generator, library=library,
                                                           parameters=parameters))
        scores = fidelity(seed, synthetic, categorical=categorical, random_state=random_state)
        run.add_run_facet(FIDELITY_FACET, scores)
        for name, value in scores["overall"].items():
            run.log_metric(f"fidelity.{name}", value)
        return scores
    except Exception as exc:  # the job goes on without the facets
        EMITTER_CAPTURE_ERRORS.labels("synthetic").inc()
        log.warning("synthetic generation not recorded: %s: %s", type(exc).__name__, exc)
        return {}
