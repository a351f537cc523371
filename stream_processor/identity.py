"""Dataset identity beyond spelling: alias table, prefix rules and OpenLineage symlinks.

:mod:`lineage_pipeline.naming` makes every *spelling* of one name canonical
(``file:///tmp/x/`` -> ``file`` + ``/tmp/x``). This module decides which *names* denote one
dataset, so that one dataset is one ``Dataset`` node (OpenLineage #2718, #2625; DataHub
#19398):

1. the configured alias table (``identity.aliases``: uid -> canonical uid, followed
   transitively, cycles stop at the first repeat);
2. the configured prefix rules (``identity.prefixes``: longest matching uid prefix replaced);
3. the dataset's OpenLineage ``symlinks`` facet (``identity.symlinks``; spec:
   https://openlineage.io/docs/spec/facets/dataset-facets/symlinks): a storage location that
   names its catalog table is recorded under the first ``TABLE`` symlink, and the processor
   remembers ``location -> table`` (an :class:`AliasStore`) so later events naming only the
   location resolve to the table too;
4. otherwise a previously learned symlink alias.

The original name is kept in the dataset's ``symlinks`` facet (type ``LOCATION`` for a name
replaced by a symlink, ``ALIAS`` for one replaced by the table), so nothing is lost.
Aliases added *after* nodes were written are merged in the graph by ``lineage alias apply``
(:mod:`graph_sink.merge`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from lineage_pipeline.events import Dataset, LineageEvent
from lineage_pipeline.graph_model import dataset_uid
from lineage_pipeline.naming import normalize_dataset
from lineage_pipeline.settings import IdentitySettings

#: Longest alias chain followed (a -> b -> c ...); longer chains stop here.
MAX_ALIAS_HOPS = 16


def split_uid(uid: str) -> tuple[str, str]:
    """Split a dataset uid ``namespace:name`` (as configured or shown by the CLI) into
    ``(namespace, name)``.

    With ``scheme://authority`` the namespace ends at the last ``:`` of the authority
    (``postgres://h:5432:db.t`` -> ``("postgres://h:5432", "db.t")``; ``s3://b:k/x`` ->
    ``("s3://b", "k/x")``); with an empty authority and a path (``duckdb:///p/f.db:s.t``) at
    the last ``:`` of the uid; otherwise at the first ``:`` (``file:/tmp/x`` ->
    ``("file", "/tmp/x")``). A full URI with no ``:`` after its scheme (``file:///tmp/x``) and
    a uid without ``:`` are a name in namespace ``""``
    (:func:`~lineage_pipeline.naming.normalize_dataset` splits URIs). Never raises.
    """
    scheme_end = uid.find("://")
    if scheme_end > 0:
        start = scheme_end + 3
        if uid.startswith("/", start):  # empty authority, the namespace carries a path
            colon = uid.rfind(":")
            return ("", uid) if colon < start else (uid[:colon], uid[colon + 1 :])
        slash = uid.find("/", start)
        head = uid[start:] if slash < 0 else uid[start:slash]
        colon = head.rfind(":")
        if colon >= 0:
            cut = start + colon
            return uid[:cut], uid[cut + 1 :]
        return "", uid
    ns, sep, name = uid.partition(":")
    return (ns, name) if sep else ("", uid)


#: A dataset's ``(namespace, name)``.
Name = tuple[str, str]


def _key(namespace: str, name: str) -> str:
    """The full ``namespace:name`` (never shortened like a graph uid): what alias tables,
    prefix rules and learned symlinks match against."""
    return f"{namespace}:{name}"


def normalize_name(uid: str) -> Name:
    """Return the canonical ``(namespace, name)`` of dataset uid ``uid``."""
    return normalize_dataset(*split_uid(uid))


def normalize_uid(uid: str) -> str:
    """Return the canonical spelling of dataset uid ``uid`` (see :func:`split_uid`)."""
    return dataset_uid(*normalize_name(uid))


class AliasStore(Protocol):
    """Aliases the processor learned from symlinks facets: dataset uid -> canonical name."""

    def get(self, uid: str) -> Name | None:
        """The canonical ``(namespace, name)`` learned for ``uid``, or ``None``."""
        ...

    def put(self, uid: str, canonical: Name) -> None:
        """Remember that ``uid`` denotes the dataset ``canonical``."""
        ...


class AliasStoreSize(Protocol):
    """An :class:`AliasStore` that can tell its size (optional: :class:`DatasetIdentity`
    skips its per-dataset lookups while a store that has it is empty)."""

    def __len__(self) -> int:
        """The number of learned aliases."""
        ...


class MemoryAliasStore:
    """:class:`AliasStore` in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, Name] = {}

    def get(self, uid: str) -> Name | None:
        """See :class:`AliasStore`."""
        return self.data.get(uid)

    def put(self, uid: str, canonical: Name) -> None:
        """See :class:`AliasStore`."""
        self.data[uid] = canonical

    def __len__(self) -> int:
        """See :class:`AliasStoreSize`."""
        return len(self.data)


class DatasetIdentity:
    """Maps every dataset name of an event to its canonical ``(namespace, name)``.

    ``aliases``/``prefixes``: the configured tables (uids in any spelling, see
    :func:`split_uid`; normalised here); ``use_symlinks``: honour ``symlinks`` facets;
    ``learned``: where symlink aliases are kept (a :class:`MemoryAliasStore` by default).
    Pure except for ``learned``; never raises.

    :meth:`apply` costs one scan of the event's datasets (no name normalisation, no alias
    lookup) when no alias applies: no ``aliases``/``prefixes`` configured, no dataset of the
    event carrying a ``symlinks`` facet and ``learned`` empty (known when it has ``len()``,
    :class:`AliasStoreSize`) or ``use_symlinks`` off. The result is the same as the full pass's
    (which returns such an event unchanged).
    """

    def __init__(
        self,
        aliases: Mapping[str, str] | None = None,
        prefixes: Mapping[str, str] | None = None,
        *,
        use_symlinks: bool = True,
        learned: AliasStore | None = None,
    ) -> None:
        self.aliases: dict[str, Name] = {
            _key(*normalize_name(k)): normalize_name(v) for k, v in (aliases or {}).items()}
        self.prefixes = sorted((prefixes or {}).items(), key=lambda kv: -len(kv[0]))
        self.use_symlinks = use_symlinks
        self.learned: AliasStore = learned if learned is not None else MemoryAliasStore()
        self._configured = bool(self.aliases or self.prefixes)

    @classmethod
    def from_settings(
        cls, settings: IdentitySettings, learned: AliasStore | None = None
    ) -> DatasetIdentity:
        """Build from the ``identity`` settings section."""
        return cls(settings.aliases, settings.prefixes, use_symlinks=settings.symlinks,
                   learned=learned)

    def configured(self, name: Name) -> Name:
        """Return the canonical name of normalised ``name`` by the configured tables only."""
        uid = _key(*name)
        seen = {uid}
        for _ in range(MAX_ALIAS_HOPS):
            target = self.aliases.get(uid)
            if target is None:
                for prefix, replacement in self.prefixes:
                    if uid.startswith(prefix):
                        target = normalize_name(replacement + uid[len(prefix) :])
                        break
            if target is None or _key(*target) in seen:
                return name
            name, uid = target, _key(*target)
            seen.add(uid)
        return name

    def configured_uid(self, uid: str) -> str:
        """:meth:`configured` for a uid (in any spelling); returns the canonical uid."""
        return dataset_uid(*self.configured(normalize_name(uid)))

    def canonical(self, namespace: str, name: str) -> Name:
        """Return the canonical name of a dataset named without a symlinks facet."""
        own = normalize_dataset(namespace, name)
        resolved = self.configured(own)
        if resolved != own:
            return resolved
        learned = self.learned.get(_key(*own)) if self.use_symlinks else None
        return self.configured(learned) if learned else own

    def canonical_uid(self, namespace: str, name: str) -> str:
        """:meth:`canonical` as a uid."""
        return dataset_uid(*self.canonical(namespace, name))

    @staticmethod
    def _symlink_target(links: list[dict[str, Any]]) -> Name | None:
        for link in links:
            if str(link.get("type") or "TABLE").upper() == "TABLE":
                return normalize_dataset(link["namespace"], link["name"])
        return None

    def resolve_dataset(self, ds: Dataset) -> Dataset:
        """Return ``ds`` under its canonical name (``ds`` itself when it already is)."""
        record = ds.model_dump(by_alias=True, mode="json")
        resolved = self.resolve_record(record)
        return ds if resolved is record else Dataset.model_validate(resolved)

    def resolve_record(self, ds: dict[str, Any]) -> dict[str, Any]:
        """:meth:`resolve_dataset` of a dataset's wire record (``ds`` itself when it already
        is canonical; otherwise a new record, ``ds`` is not changed)."""
        facets = ds.get("facets") or {}
        symlinks: list[dict[str, Any]] = facets.get("symlinks") or []
        own = normalize_dataset(ds["namespace"], ds["name"])
        uid = _key(*own)
        canonical = self.configured(own)
        link_type = "ALIAS"
        if canonical == own and self.use_symlinks and symlinks:
            table = self._symlink_target(symlinks)
            if table is not None and table != own:
                canonical = self.configured(table)
                link_type = "LOCATION"
                if self.learned.get(uid) != canonical:
                    self.learned.put(uid, canonical)
        if canonical == own:
            learned = self.learned.get(uid) if self.use_symlinks else None
            if not learned:
                return ds
            canonical, link_type = self.configured(learned), "LOCATION"
        links = [s for s in symlinks
                 if normalize_dataset(s["namespace"], s["name"]) != canonical]
        if not any(normalize_dataset(s["namespace"], s["name"]) == own for s in links):
            links.append({"namespace": own[0], "name": own[1], "type": link_type})
        return {**ds, "namespace": canonical[0], "name": canonical[1],
                "facets": {**facets, "symlinks": links}}

    def _nothing_applies(self, event: dict[str, Any]) -> bool:
        """``True`` when no alias can apply to ``event`` (see the class docstring)."""
        if self._configured:
            return False
        if not self.use_symlinks:
            return True
        for ds in (*(event.get("inputs") or ()), *(event.get("outputs") or ())):
            if (ds.get("facets") or {}).get("symlinks"):
                return False
        size = getattr(self.learned, "__len__", None)
        return size is not None and size() == 0

    def _resolve_lineage(self, ds: dict[str, Any]) -> dict[str, Any]:
        facets = ds.get("facets") or {}
        lineage = facets.get("columnLineage")
        if not lineage:
            return ds
        changed = False
        new_lineage = []
        for out_col in lineage:
            fields = []
            for inp in out_col.get("inputFields") or ():
                ns, name = self.canonical(inp["namespace"], inp["name"])
                if (ns, name) != normalize_dataset(inp["namespace"], inp["name"]):
                    changed = True
                    inp = {**inp, "namespace": ns, "name": name}
                fields.append(inp)
            new_lineage.append({**out_col, "inputFields": fields})
        if not changed:
            return ds
        return {**ds, "facets": {**facets, "columnLineage": new_lineage}}

    def apply(self, event: LineageEvent) -> LineageEvent:
        """Return ``event`` with every dataset (inputs, outputs and the sources named by
        ``columnLineage`` facets) under its canonical name (``event`` itself when nothing
        changes; :meth:`apply_record` on its wire record)."""
        record = event.model_dump(by_alias=True, mode="json")
        resolved = self.apply_record(record)
        return event if resolved is record else LineageEvent.model_validate(resolved)

    def apply_record(self, event: dict[str, Any]) -> dict[str, Any]:
        """:meth:`apply` on an event's wire record (the Avro decoder's output): ``event``
        itself when nothing changes, else a new record (``event`` is not changed). Symlink
        aliases of the event's datasets are learned first, so the event's own column
        lineage uses them."""
        if self._nothing_applies(event):
            return event
        old = [*(event.get("inputs") or ()), *(event.get("outputs") or ())]
        inputs = [self.resolve_record(d) for d in event.get("inputs") or ()]
        outputs = [self.resolve_record(d) for d in event.get("outputs") or ()]
        outputs = [self._resolve_lineage(d) for d in outputs]
        inputs = [self._resolve_lineage(d) for d in inputs]
        if all(a is b for a, b in zip(inputs + outputs, old, strict=True)):
            return event
        return {**event, "inputs": inputs, "outputs": outputs}
