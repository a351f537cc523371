// Retention and erasure: compact old runs into per-job summaries; erase a dataset's
// PII-bearing metadata (the column statistics of its versions) and record the erasure on the Dataset node (the
// durable record outside the graph is the erasure topic: graph_sink/erasure_log.py).

// name: retention_old_runs_by_job
// Finished runs (COMPLETE, FAIL, ABORT) that ended before $cutoff (epoch ms), per job and
// state: how many, and the earliest start / latest end among them.
MATCH (r:Run)-[:RUN_OF]->(j:Job)
WHERE r.state IN ['COMPLETE', 'FAIL', 'ABORT'] AND coalesce(r.endTime, r.updatedAt) < $cutoff
RETURN j.uid AS job, j.runSummary AS summary, r.state AS state, count(r) AS runs,
       min(coalesce(r.startTime, r.observedAt)) AS first, max(coalesce(r.endTime, r.updatedAt)) AS last

// name: retention_set_job_summary
// Store the run summary (JSON text) of job $job.
MATCH (j:Job {uid: $job})
SET j.runSummary = $summary

// name: retention_delete_old_runs
// Delete the finished runs that ended before $cutoff with their relationships (dataset
// versions, schemas, fields and column lineage stay).
MATCH (r:Run)
WHERE r.state IN ['COMPLETE', 'FAIL', 'ABORT'] AND coalesce(r.endTime, r.updatedAt) < $cutoff
DETACH DELETE r

// name: erasure_version_count
// Whether dataset $dataset exists, and how many of its versions hold column statistics.
OPTIONAL MATCH (d:Dataset {uid: $dataset})
OPTIONAL MATCH (v:DatasetVersion)-[:VERSION_OF]->(d)
WHERE v.columnStats IS NOT NULL
RETURN d.uid AS uid, count(v) AS versions

// name: erasure_scrub_versions
// Remove the column statistics of every version of dataset $dataset.
MATCH (v:DatasetVersion)-[:VERSION_OF]->(:Dataset {uid: $dataset})
SET v.columnStats = NULL

// name: erasure_record
// Record the erasure of dataset $dataset at $now (epoch ms) with $reason.
MATCH (d:Dataset {uid: $dataset})
SET d.erasedAt = $now, d.erasureReason = $reason

// name: erasure_list
// Every erased dataset: uid, when (epoch ms) and why.
MATCH (d:Dataset)
WHERE d.erasedAt IS NOT NULL
RETURN d.uid AS uid, d.erasedAt AS erasedAt, d.erasureReason AS reason
