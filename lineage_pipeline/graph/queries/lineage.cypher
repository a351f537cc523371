// Lineage walks, one breadth-first level per call: $uids is the frontier, each row is
// (src = frontier uid, uid = neighbour uid, props = neighbour properties). Only relationships
// observed at or before $as_of (epoch ms) count; $as_of null means now.
// Walk relationships: (DatasetVersion)-[:CONSUMED_BY]->(Run)-[:GENERATED]->(DatasetVersion);
// a Dataset stands for its versions (VERSION_OF), a Job for its runs (RUN_OF).
// Runs and versions come back as a projection of the properties a walk shows (not the
// JSON texts: parameters, metrics, environment, schema), which keeps answers small.
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

// Column (Field) level. A column hop is one processing step (two hops of depth). Declared
// column lineage is the stored (Field)-[:DERIVED_FROM {runId}]->(Field); for a run that
// declared none for an output, the column is followed by name: the output's column of the
// same name, else the output version as a whole (e.g. a model trained on the table).
// Each row also names the run of the hop (props) and the versions holding both columns:
// (src_version)-[:HAS_FIELD]->(src) and (version)-[:HAS_FIELD]->(uid).

// name: field_derived_down
// Declared column lineage, downstream: the fields derived from each field in $uids.
UNWIND $uids AS uid
MATCH (f:Field {uid: uid})
WITH f
MATCH (o:Field)-[e:DERIVED_FROM]->(f)
WHERE $as_of IS NULL OR e.observedAt <= $as_of
OPTIONAL MATCH (sv:DatasetVersion)-[:HAS_FIELD]->(f)
OPTIONAL MATCH (w:DatasetVersion)-[:HAS_FIELD]->(o)
OPTIONAL MATCH (r:Run {uid: e.runId})
RETURN f.uid AS src, o.uid AS uid, properties(o) AS props, e.runId AS run,
       e.transformation AS transformation, sv.uid AS src_version, w.uid AS version,
       sv {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
           .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS src_version_props,
       w {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS version_props,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS run_props

// name: field_derived_up
// Declared column lineage, upstream: the fields each field in $uids was derived from.
UNWIND $uids AS uid
MATCH (f:Field {uid: uid})
WITH f
MATCH (f)-[e:DERIVED_FROM]->(i:Field)
WHERE $as_of IS NULL OR e.observedAt <= $as_of
OPTIONAL MATCH (sv:DatasetVersion)-[:HAS_FIELD]->(f)
OPTIONAL MATCH (v:DatasetVersion)-[:HAS_FIELD]->(i)
OPTIONAL MATCH (r:Run {uid: e.runId})
RETURN f.uid AS src, i.uid AS uid, properties(i) AS props, e.runId AS run,
       e.transformation AS transformation, sv.uid AS src_version, v.uid AS version,
       sv {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
           .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS src_version_props,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS version_props,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS run_props

// name: field_flow_down
// Column followed by name, downstream: for each field in $uids, every run that read its
// version and declared no column lineage for an output; per output version, the column of
// the same name (uid/props null when the output has none: the version as a whole).
UNWIND $uids AS uid
MATCH (f:Field {uid: uid})
WITH f
MATCH (v:DatasetVersion)-[:HAS_FIELD]->(f)
MATCH (v)-[c:CONSUMED_BY]->(r:Run)-[g:GENERATED]->(w:DatasetVersion)
WHERE ($as_of IS NULL OR (c.observedAt <= $as_of AND g.observedAt <= $as_of))
  AND NOT (w)-[:HAS_FIELD]->(:Field)-[:DERIVED_FROM {runId: r.uid}]->(:Field)
OPTIONAL MATCH (w)-[:HAS_FIELD]->(o:Field {name: f.name})
RETURN f.uid AS src, o.uid AS uid, properties(o) AS props, r.uid AS run,
       v.uid AS src_version, w.uid AS version,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS src_version_props,
       w {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS version_props,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS run_props

// name: field_flow_up
// Column followed by name, upstream: for each field in $uids, the run that generated its
// version (when it declared no column lineage for it) and each version that run read, with
// its column of the same name (uid/props null when it has none: the version as a whole).
UNWIND $uids AS uid
MATCH (f:Field {uid: uid})
WITH f
MATCH (w:DatasetVersion)-[:HAS_FIELD]->(f)
MATCH (v:DatasetVersion)-[c:CONSUMED_BY]->(r:Run)-[g:GENERATED]->(w)
WHERE ($as_of IS NULL OR (c.observedAt <= $as_of AND g.observedAt <= $as_of))
  AND NOT (w)-[:HAS_FIELD]->(:Field)-[:DERIVED_FROM {runId: r.uid}]->(:Field)
OPTIONAL MATCH (v)-[:HAS_FIELD]->(i:Field {name: f.name})
RETURN f.uid AS src, i.uid AS uid, properties(i) AS props, r.uid AS run,
       w.uid AS src_version, v.uid AS version,
       w {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS src_version_props,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS version_props,
       r {.uid, .runId, .jobUid, .state, .startTime, .endTime, .parentRunId, .observedAt,
          .updatedAt} AS run_props

// name: dataset_column_fields
// Column $column of every version of each dataset in $uids (versions observed by $as_of).
UNWIND $uids AS uid
MATCH (d:Dataset {uid: uid})
WITH d
MATCH (v:DatasetVersion)-[e:VERSION_OF]->(d)
WHERE $as_of IS NULL OR e.observedAt <= $as_of
MATCH (v)-[:HAS_FIELD]->(f:Field {name: $column})
RETURN d.uid AS dataset, v.uid AS version, f.uid AS uid, properties(f) AS props,
       v {.uid, .namespace, .name, .datasetUid, .version, .kind, .digestAlgorithm, .digest,
          .rowCount, .bytes, .producedByRunId, .observedAt, .updatedAt} AS version_props
