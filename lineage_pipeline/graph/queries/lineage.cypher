// Lineage walks, one breadth-first level per call: $uids is the frontier, each row is
// (src = frontier uid, uid = neighbour uid, props = neighbour properties). Only relationships
// observed at or before $as_of (epoch ms) count; $as_of null means now.
// Walk relationships: (DatasetVersion)-[:CONSUMED_BY]->(Run)-[:GENERATED]->(DatasetVersion);
// a Dataset stands for its versions (VERSION_OF), a Job for its runs (RUN_OF).
// Runs and versions come back as a projection of the properties a walk shows (not the
// JSON texts: parameters, metrics, environment, columnStats), which keeps answers small.
// Queries of several patterns first MATCH the frontier node by uid alone, then WITH: this
// pins FalkorDB's planner to the uid index (otherwise it may start from a label scan).

// name: dataset_versions
// The versions of each dataset in $uids.
UNWIND $uids AS uid
MATCH (v:DatasetVersion)-[e:VERSION_OF]->(d:Dataset {uid: uid})
WHERE $as_of IS NULL OR e.observedAt <= $as_of
RETURN d.uid AS src, v.uid AS uid,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS props

// name: job_runs
// The runs of each job in $uids.
UNWIND $uids AS uid
MATCH (r:Run)-[e:RUN_OF]->(j:Job {uid: uid})
WHERE $as_of IS NULL OR e.observedAt <= $as_of
RETURN j.uid AS src, r.uid AS uid,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS props

// name: upstream_producers
// Upstream of dataset versions: the runs that GENERATED them.
UNWIND $uids AS uid
MATCH (r:Run)-[e:GENERATED]->(v:DatasetVersion {uid: uid})
WHERE $as_of IS NULL OR e.observedAt <= $as_of
RETURN v.uid AS src, r.uid AS uid,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS props

// name: upstream_inputs
// Upstream of runs: the dataset versions they CONSUMED.
UNWIND $uids AS uid
MATCH (v:DatasetVersion)-[e:CONSUMED_BY]->(r:Run {uid: uid})
WHERE $as_of IS NULL OR e.observedAt <= $as_of
RETURN r.uid AS src, v.uid AS uid,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS props

// name: downstream_consumers
// Downstream of dataset versions: the runs that CONSUMED them.
UNWIND $uids AS uid
MATCH (v:DatasetVersion {uid: uid})-[e:CONSUMED_BY]->(r:Run)
WHERE $as_of IS NULL OR e.observedAt <= $as_of
RETURN v.uid AS src, r.uid AS uid,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS props

// name: downstream_outputs
// Downstream of runs: the dataset versions they GENERATED.
UNWIND $uids AS uid
MATCH (r:Run {uid: uid})-[e:GENERATED]->(v:DatasetVersion)
WHERE $as_of IS NULL OR e.observedAt <= $as_of
RETURN r.uid AS src, v.uid AS uid,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS props

// Two hops per call (half the round trips of a deep walk), with each run's Job attached.
// Rows: (src version, one run, its props and job, next = [{uid, props}] the versions on the
// far side of the run; uid null when none). Datasets are attached once at the end of a walk.

// name: upstream_producers_inputs
// Upstream of dataset versions: the runs that GENERATED them and the versions those CONSUMED.
UNWIND $uids AS uid
MATCH (v:DatasetVersion {uid: uid})
WITH v
MATCH (r:Run)-[e:GENERATED]->(v)
WHERE $as_of IS NULL OR e.observedAt <= $as_of
OPTIONAL MATCH (r)-[:RUN_OF]->(j:Job)
WITH v, r, j
OPTIONAL MATCH (i:DatasetVersion)-[c:CONSUMED_BY]->(r)
WHERE $as_of IS NULL OR c.observedAt <= $as_of
WITH v, r, j,
     collect({uid: i.uid,
              props: i {.uid, .namespace, .name, .datasetUid, .version, .kind,
                        .digestAlgorithm, .digest, .rowCount, .bytes, .producedByRunId,
                        .observedAt, .updatedAt}}) AS next
RETURN v.uid AS src, r.uid AS run,
       j {.uid, .namespace, .name, .jobType, .integration, .processingType, .observedAt,
          .updatedAt} AS job,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS run_props,
       next

// name: downstream_consumers_outputs
// Downstream of dataset versions: the runs that CONSUMED them and the versions those
// GENERATED.
UNWIND $uids AS uid
MATCH (v:DatasetVersion {uid: uid})
WITH v
MATCH (v)-[e:CONSUMED_BY]->(r:Run)
WHERE $as_of IS NULL OR e.observedAt <= $as_of
OPTIONAL MATCH (r)-[:RUN_OF]->(j:Job)
WITH v, r, j
OPTIONAL MATCH (r)-[g:GENERATED]->(o:DatasetVersion)
WHERE $as_of IS NULL OR g.observedAt <= $as_of
WITH v, r, j,
     collect({uid: o.uid,
              props: o {.uid, .namespace, .name, .datasetUid, .version, .kind,
                        .digestAlgorithm, .digest, .rowCount, .bytes, .producedByRunId,
                        .observedAt, .updatedAt}}) AS next
RETURN v.uid AS src, r.uid AS run,
       j {.uid, .namespace, .name, .jobType, .integration, .processingType, .observedAt,
          .updatedAt} AS job,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS run_props,
       next

// Column level. A column of a version is the pair (version, column); $cols holds one map
// {uid, version, field, name} per column: its answer id, its version's uid, the uid of its
// dataset column (Field) and its name. A column hop is one processing step (two hops of
// depth). Declared column lineage: the run that generated the output version names, on
// GENERATED, the lineage it applied (lineageUid); that lineage's
// (Field)-[:DERIVED_FROM {lineageUid}]->(Field) relationships lead from the output column
// to input columns, found in the versions of those inputs the run read. For a run that
// declared none for an output, the column is followed by name: the column of the same name
// in the other version's schema, else that version as a whole (e.g. a model trained on the
// table). Each row names the far column (column null: the version as a whole) with its
// type, tags and its version's columnStats, and the run of the hop with both versions.
// A schema's columns are reached from the Schema node (WITH in between): FalkorDB
// otherwise plans a scan of every Field node for a column matched by name.

// name: field_derived_up
// Declared column lineage, upstream: the input columns each column of $cols derives from.
UNWIND $cols AS col
MATCH (w:DatasetVersion {uid: col.version})
WITH col, w
MATCH (r:Run)-[g:GENERATED]->(w)
WHERE g.lineageUid IS NOT NULL AND ($as_of IS NULL OR g.observedAt <= $as_of)
MATCH (o:Field {uid: col.field})-[e:DERIVED_FROM]->(i:Field)
WHERE e.lineageUid = g.lineageUid
MATCH (v:DatasetVersion)-[c:CONSUMED_BY]->(r)
WHERE v.datasetUid = i.datasetUid AND ($as_of IS NULL OR c.observedAt <= $as_of)
OPTIONAL MATCH (s:Schema {uid: v.schemaUid})-[h:HAS_FIELD]->(i)
RETURN col.uid AS src, i.name AS column, h.type AS type, i.tags AS tags,
       v.columnStats AS stats, r.uid AS run, e.transformation AS transformation,
       w.uid AS src_version, v.uid AS version,
       w {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS src_version_props,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS version_props,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS run_props

// name: field_derived_down
// Declared column lineage, downstream: the output columns derived from each column of $cols.
UNWIND $cols AS col
MATCH (v:DatasetVersion {uid: col.version})
MATCH (i:Field {uid: col.field})
WITH col, v, i
MATCH (v)-[c:CONSUMED_BY]->(r:Run)-[g:GENERATED]->(w:DatasetVersion)
WHERE g.lineageUid IS NOT NULL
  AND ($as_of IS NULL OR (c.observedAt <= $as_of AND g.observedAt <= $as_of))
MATCH (o:Field)-[e:DERIVED_FROM]->(i)
WHERE e.lineageUid = g.lineageUid
OPTIONAL MATCH (s:Schema {uid: w.schemaUid})-[h:HAS_FIELD]->(o)
RETURN col.uid AS src, o.name AS column, h.type AS type, o.tags AS tags,
       w.columnStats AS stats, r.uid AS run, e.transformation AS transformation,
       v.uid AS src_version, w.uid AS version,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS src_version_props,
       w {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS version_props,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS run_props

// name: field_flow_down
// Column followed by name, downstream: for each column of $cols, every run that read its
// version and declared no column lineage for an output; per output version, the column of
// the same name (null when the output has none: the version as a whole).
UNWIND $cols AS col
MATCH (v:DatasetVersion {uid: col.version})
WITH col, v
MATCH (v)-[c:CONSUMED_BY]->(r:Run)-[g:GENERATED]->(w:DatasetVersion)
WHERE g.lineageUid IS NULL
  AND ($as_of IS NULL OR (c.observedAt <= $as_of AND g.observedAt <= $as_of))
WITH col, v, c, r, g, w
OPTIONAL MATCH (s:Schema {uid: w.schemaUid})
WITH col, v, c, r, g, w, s
OPTIONAL MATCH (s)-[h:HAS_FIELD]->(o:Field)
WHERE o.name = col.name
RETURN col.uid AS src, o.name AS column, h.type AS type, o.tags AS tags,
       w.columnStats AS stats, r.uid AS run,
       v.uid AS src_version, w.uid AS version,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS src_version_props,
       w {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS version_props,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS run_props

// name: field_flow_up
// Column followed by name, upstream: for each column of $cols, the run that generated its
// version (when it declared no column lineage for it) and each version that run read, with
// its column of the same name (null when it has none: the version as a whole).
UNWIND $cols AS col
MATCH (w:DatasetVersion {uid: col.version})
WITH col, w
MATCH (v:DatasetVersion)-[c:CONSUMED_BY]->(r:Run)-[g:GENERATED]->(w)
WHERE g.lineageUid IS NULL
  AND ($as_of IS NULL OR (c.observedAt <= $as_of AND g.observedAt <= $as_of))
WITH col, v, c, r, g, w
OPTIONAL MATCH (s:Schema {uid: v.schemaUid})
WITH col, v, c, r, g, w, s
OPTIONAL MATCH (s)-[h:HAS_FIELD]->(i:Field)
WHERE i.name = col.name
RETURN col.uid AS src, i.name AS column, h.type AS type, i.tags AS tags,
       v.columnStats AS stats, r.uid AS run,
       w.uid AS src_version, v.uid AS version,
       w {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS src_version_props,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS version_props,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS run_props

// name: dataset_column_fields
// Column $column of every version of each dataset in $uids (versions observed by $as_of):
// its type and tags, and the version with its columnStats.
UNWIND $uids AS uid
MATCH (d:Dataset {uid: uid})
WITH d
MATCH (v:DatasetVersion)-[e:VERSION_OF]->(d)
WHERE $as_of IS NULL OR e.observedAt <= $as_of
WITH d, v
MATCH (s:Schema {uid: v.schemaUid})
WITH d, v, s
MATCH (s)-[h:HAS_FIELD]->(f:Field)
WHERE f.name = $column
RETURN d.uid AS dataset, v.uid AS version, f.name AS column, h.type AS type, f.tags AS tags,
       v.columnStats AS stats,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS version_props
