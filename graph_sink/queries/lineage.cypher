// Lineage walks, one breadth-first level per call: $uids is the frontier, each row is
// (src = frontier uid, uid = neighbour uid, props = neighbour properties). Only edges
// observed at or before $as_of (epoch ms) count; $as_of null means now.
// Walk edges: (DatasetVersion)-[:CONSUMED_BY]->(Run)-[:GENERATED]->(DatasetVersion);
// a Dataset stands for its versions (VERSION_OF), a Job for its runs (RUN_OF).

// name: dataset_versions
// The versions of each dataset in $uids.
UNWIND $uids AS uid
MATCH (v:DatasetVersion)-[e:VERSION_OF]->(d:Dataset {uid: uid})
WHERE $as_of IS NULL OR e.observed_at <= $as_of
RETURN d.uid AS src, v.uid AS uid, properties(v) AS props

// name: job_runs
// The runs of each job in $uids.
UNWIND $uids AS uid
MATCH (r:Run)-[e:RUN_OF]->(j:Job {uid: uid})
WHERE $as_of IS NULL OR e.observed_at <= $as_of
RETURN j.uid AS src, r.uid AS uid, properties(r) AS props

// name: upstream_producers
// Upstream of dataset versions: the runs that GENERATED them.
UNWIND $uids AS uid
MATCH (r:Run)-[e:GENERATED]->(v:DatasetVersion {uid: uid})
WHERE $as_of IS NULL OR e.observed_at <= $as_of
RETURN v.uid AS src, r.uid AS uid, properties(r) AS props

// name: upstream_inputs
// Upstream of runs: the dataset versions they CONSUMED.
UNWIND $uids AS uid
MATCH (v:DatasetVersion)-[e:CONSUMED_BY]->(r:Run {uid: uid})
WHERE $as_of IS NULL OR e.observed_at <= $as_of
RETURN r.uid AS src, v.uid AS uid, properties(v) AS props

// name: downstream_consumers
// Downstream of dataset versions: the runs that CONSUMED them.
UNWIND $uids AS uid
MATCH (v:DatasetVersion {uid: uid})-[e:CONSUMED_BY]->(r:Run)
WHERE $as_of IS NULL OR e.observed_at <= $as_of
RETURN v.uid AS src, r.uid AS uid, properties(r) AS props

// name: downstream_outputs
// Downstream of runs: the dataset versions they GENERATED.
UNWIND $uids AS uid
MATCH (r:Run {uid: uid})-[e:GENERATED]->(v:DatasetVersion)
WHERE $as_of IS NULL OR e.observed_at <= $as_of
RETURN r.uid AS src, v.uid AS uid, properties(v) AS props
