// Runs of a job and the details of one run.

// name: job_exists
// The uid of job $job when it is in the graph (no rows otherwise).
MATCH (j:Job {uid: $job}) RETURN j.uid AS uid

// name: job_runs_newest_first
// The runs of job $job, newest first (by startTime, else nominalStartTime, else first
// observation), at most $limit.
MATCH (r:Run)-[:RUN_OF]->(j:Job {uid: $job})
WITH r
ORDER BY coalesce(r.startTime, r.nominalStartTime, r.observedAt) DESC, r.uid DESC
LIMIT $limit
RETURN properties(r) AS run

// name: run_detail
// Run $run_id with its job.
MATCH (r:Run {uid: $run_id})
OPTIONAL MATCH (r)-[:RUN_OF]->(j:Job)
RETURN properties(r) AS run, properties(j) AS job

// name: run_versions
// The input (CONSUMED_BY) and output (GENERATED) dataset versions of run $run_id, each with
// the columns of its schema ({name, type, tags, position}).
MATCH (v:DatasetVersion)-[:CONSUMED_BY]->(r:Run {uid: $run_id})
OPTIONAL MATCH (s:Schema {uid: v.schemaUid})-[h:HAS_FIELD]->(f:Field)
WITH v, collect({name: f.name, type: h.type, tags: f.tags, position: h.position}) AS columns
RETURN 'input' AS role, properties(v) AS version, columns
UNION ALL
MATCH (r:Run {uid: $run_id})-[:GENERATED]->(v:DatasetVersion)
OPTIONAL MATCH (s:Schema {uid: v.schemaUid})-[h:HAS_FIELD]->(f:Field)
WITH v, collect({name: f.name, type: h.type, tags: f.tags, position: h.position}) AS columns
RETURN 'output' AS role, properties(v) AS version, columns

// name: run_children
// Runs that are CHILD_OF run $run_id.
MATCH (c:Run)-[:CHILD_OF]->(r:Run {uid: $run_id})
RETURN c.uid AS uid
