// Data quality and synthetic data: the assertions runs recorded on the dataset versions they
// read or wrote (Run.qualityAssertions, a JSON list; see stream_processor/quality.py), and the
// generator runs of synthetic datasets (Run.extraFacets.syntheticGenerator).

// name: quality_runs
// The runs that read (CONSUMED_BY) or wrote (GENERATED) a version of dataset $dataset (only
// the version with uid $version when it is not null) and recorded assertions: the version's
// uid, version and observedAt, the run's uid, job uid, startTime and assertions JSON; newest
// run first, at most $limit rows.
MATCH (v:DatasetVersion)-[:VERSION_OF]->(d:Dataset {uid: $dataset})
WHERE $version IS NULL OR v.uid = $version
MATCH (v)-[:CONSUMED_BY|GENERATED]-(r:Run)
WHERE r.qualityAssertions IS NOT NULL
OPTIONAL MATCH (r)-[:RUN_OF]->(j:Job)
RETURN v.uid AS uid, v.version AS version, v.observedAt AS observedAt, r.uid AS run,
       j.uid AS job, r.startTime AS startTime, r.qualityAssertions AS assertions
ORDER BY startTime DESC, run
LIMIT $limit

// name: synthetic_runs
// The runs that GENERATED a version of dataset $dataset (only the version with uid $version
// when it is not null): the version's uid, version and observedAt, the run's uid, job uid,
// startTime, extraFacets and metrics (JSON text), and the versions it read (seeds);
// newest run first, at most $limit rows.
MATCH (v:DatasetVersion)-[:VERSION_OF]->(d:Dataset {uid: $dataset})
WHERE $version IS NULL OR v.uid = $version
MATCH (r:Run)-[:GENERATED]->(v)
OPTIONAL MATCH (r)-[:RUN_OF]->(j:Job)
OPTIONAL MATCH (s:DatasetVersion)-[:CONSUMED_BY]->(r)
WITH v, r, j, collect(s.uid) AS seeds
RETURN v.uid AS uid, v.version AS version, v.observedAt AS observedAt, r.uid AS run,
       j.uid AS job, r.startTime AS startTime, r.extraFacets AS extraFacets,
       r.metrics AS metrics, seeds
ORDER BY startTime DESC, run
LIMIT $limit
