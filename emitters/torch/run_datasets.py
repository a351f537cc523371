"""The datasets of a torch run: declared files and URIs, in-memory torch datasets (content
fingerprints), and checkpoint files seen through ``torch.save`` / ``torch.load``.

:class:`RunDatasets` is a part of :class:`~emitters.torch.run.TorchRun` (its inputs,
outputs and checkpoints); every method is safe to call from the training loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import torch

from emitters.facets import dataset_id_for_path, file_dataset
from emitters.run import RunContext
from emitters.torch import checkpoints
from emitters.torch._safe import CaptureGuard
from emitters.torch.fingerprint import DatasetFingerprint, fingerprint_dataset
from lineage_pipeline.events import ContentDigest, Dataset, DatasetFacets, Statistics

if TYPE_CHECKING:
    from emitters.torch.spec import PathLike, RunSpec

#: Namespace of datasets known only as in-memory torch datasets (no declared URI); their name
#: is ``<job namespace>/<job name>/<dataset name>``.
MEMORY_NAMESPACE = "torch"
#: Most inputs or outputs per run; further ones are counted (``lineage.datasets_dropped``).
MAX_DATASETS_PER_SIDE = 64


def _key(ds: Dataset) -> tuple[str, str]:
    return ds.namespace, ds.name


class RunDatasets:
    """Inputs and outputs of a :class:`~emitters.torch.run.TorchRun` (a part of it, not used
    alone): at most :data:`MAX_DATASETS_PER_SIDE` per side, the latest version per
    namespace/name; outputs declared by path are digested when the run ends."""

    enabled: bool
    spec: RunSpec
    context: RunContext | None
    _guard: CaptureGuard
    _inputs: dict[tuple[str, str], Dataset]
    _outputs: dict[tuple[str, str], Dataset]
    _deferred_outputs: dict[str, tuple[str, dict[str, str]]]
    _dropped: dict[str, int]
    _fingerprints: dict[int, DatasetFingerprint]

    def input_dataset(
        self,
        dataset: object,
        *,
        name: str = "train",
        uri: PathLike | None = None,
        kind: str | None = None,
        fingerprint: bool | None = None,
    ) -> None:
        """Record a torch ``Dataset`` (or any object with ``__len__``/``__getitem__``) as an input.

        Without ``uri`` the input is ``torch:<job namespace>/<job name>/<name>`` with the
        content fingerprint (see :mod:`emitters.torch.fingerprint`) as its version. With a
        ``uri`` it is that dataset (a local file: SHA-256 of its bytes as version).
        """
        if not self.enabled or self.context is None:
            return
        kind = kind or "features"
        self._guard.call(
            "input_dataset",
            lambda: self._add_input(self._dataset_for(dataset, name, uri, kind, fingerprint)),
            None,
        )

    def input_file(self, path: PathLike, *, kind: str = "file") -> None:
        """Record a file or URI read by the run (local files digested now: SHA-256)."""
        if self.enabled and self.context is not None:
            self._guard.call(
                "input_file", lambda: self._add_input(self._uri_dataset(path, kind, "input")),
                None,
            )

    def output_file(self, path: PathLike, *, kind: str = "file") -> None:
        """Declare a file the run writes (e.g. ``kind="predictions"``).

        It is digested (SHA-256 of its bytes, plus schema and statistics for CSV/Parquet/JSON)
        when the run ends, so it may be declared before it is written.
        """
        if self.enabled and self.context is not None:

            def do() -> None:
                ns, nm = dataset_id_for_path(os.fspath(path))
                if ns == "file":
                    self._deferred_outputs[nm] = (kind, {})
                else:
                    self._add_output(Dataset(namespace=ns, name=nm, kind=kind))

            self._guard.call("output_file", do, None)

    # -- datasets ---------------------------------------------------------------------------

    def _fingerprint(self, dataset: object) -> DatasetFingerprint:
        fp = self._fingerprints.get(id(dataset))
        if fp is None:
            spec = self.spec
            fp = fingerprint_dataset(
                dataset,
                full_hash_max_bytes=spec.full_hash_max_bytes,
                sample_rows=spec.sample_rows,
                sample_items=spec.sample_items,
            )
            self._fingerprints[id(dataset)] = fp
        return fp

    def _dataset_for(
        self, dataset: object, name: str, uri: PathLike | None, kind: str, fingerprint: bool | None
    ) -> Dataset:
        fp: DatasetFingerprint | None = None
        if fingerprint or (fingerprint is None and uri is None):
            fp = self._fingerprint(dataset)
        if uri is not None:
            ds = self._uri_dataset(uri, kind, "input", version=fp.hex if fp else None)
        else:
            job = self.spec
            ds = Dataset(
                namespace=MEMORY_NAMESPACE,
                name=f"{job.namespace}/{job.job_name}/{name}",
                kind=kind,
                version=fp.hex if fp is not None else None,
                facets=DatasetFacets(),
            )
            if fp is not None and fp.hex is not None:
                ds.facets.contentDigest = ContentDigest(algorithm=fp.algorithm, hex=fp.hex)
            if fp is not None and fp.length is not None:
                ds.facets.statistics = Statistics(rowCount=fp.length)
        if fp is not None:
            ds.facets.extra["torchDataset"] = json.dumps(fp.describe(), sort_keys=True)
        return ds

    def _uri_dataset(
        self, uri: PathLike, kind: str, role: Literal["input", "output"],
        version: str | None = None,
    ) -> Dataset:
        ns, nm = dataset_id_for_path(os.fspath(uri))
        if ns == "file" and os.path.isfile(nm):
            return file_dataset(nm, kind=kind, role=role, compute_stats=self.spec.compute_stats)
        return Dataset(namespace=ns, name=nm, kind=kind, version=version)

    def _add_input(self, ds: Dataset) -> None:
        if self._put(self._inputs, "inputs", ds) and self.context is not None:
            self.context.add_input(ds)

    def _add_output(self, ds: Dataset) -> None:
        if self._put(self._outputs, "outputs", ds) and self.context is not None:
            self.context.add_output(ds)

    def _put(self, side: dict[tuple[str, str], Dataset], label: str, ds: Dataset) -> bool:
        """Keep ``ds`` (the latest per namespace/name); ``False`` past the per-side cap."""
        key = _key(ds)
        if key not in side and len(side) >= MAX_DATASETS_PER_SIDE:
            self._dropped[label] += 1
            return False
        side[key] = ds
        return True

    def _add_file_output(self, path: str, kind: str, extra: dict[str, str]) -> None:
        if not os.path.isfile(path):
            self._guard.record("output.missing", FileNotFoundError(path))
            return
        ds = file_dataset(path, kind=kind, role="output",
                          compute_stats=self.spec.compute_stats and kind != "model")
        ds.facets.extra.update(extra)
        self._add_output(ds)

    # -- checkpoints (called by the torch.save / torch.load wrappers) -------------------------

    def on_save(self, obj: object, f: object) -> None:
        """``torch.save(obj, f)`` returned: record the file as an output of kind ``save_kind``
        (digested now if closed, else when the run ends). Never raises."""
        if not self.enabled:
            return

        def do() -> None:
            path, closed = checkpoints.path_of(f)
            if path is None:
                return  # an in-memory buffer: nothing on disk to version
            extra = {"torchCheckpoint": json.dumps(_describe_saved(obj), sort_keys=True)}
            if closed:
                self._deferred_outputs.pop(path, None)
                self._add_file_output(path, self.spec.save_kind, extra)
            else:
                self._deferred_outputs[path] = (self.spec.save_kind, extra)

        self._guard.call("on_save", do, None)

    def on_load(self, f: object, result: object) -> None:
        """``torch.load(f)`` returned: record the file as an input of kind ``load_kind``,
        unless it is a version this run itself wrote (a reload of its own checkpoint)."""
        if not self.enabled:
            return

        def do() -> None:
            path, _ = checkpoints.path_of(f)
            if path is None:
                return
            ds = file_dataset(path, kind=self.spec.load_kind, role="input", compute_stats=False)
            own = self._outputs.get(_key(ds))
            if own is not None and own.version == ds.version:
                return
            ds.facets.extra["torchCheckpoint"] = json.dumps(_describe_saved(result),
                                                            sort_keys=True)
            self._add_input(ds)

        self._guard.call("on_load", do, None)


def _describe_saved(obj: object) -> dict[str, Any]:
    """Describe a saved/loaded object without its values: type, tensor count, top-level keys."""
    out: dict[str, Any] = {"type": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
        out["module"] = True
    if isinstance(obj, Mapping):
        keys = [str(k) for k in obj]
        out["keys"] = keys[:32]
        out["numKeys"] = len(keys)
        tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
        out["numTensors"] = len(tensors)
        out["numElements"] = sum(int(t.numel()) for t in tensors)
    elif isinstance(obj, torch.Tensor):
        out["dtype"] = str(obj.dtype).removeprefix("torch.")
        out["shape"] = list(obj.shape)
    return out
