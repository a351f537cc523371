// Root cause and run comparison: runs with their jobs, inputs with their producers and
// columns, baseline runs, failed upstream runs. Plain values and property maps only.

// name: runs_props
// Each run in $uids with its job uid.
UNWIND $uids AS uid
MATCH (r:Run {uid: uid})
OPTIONAL MATCH (r)-[:RUN_OF]->(j:Job)
RETURN r.uid AS uid, properties(r) AS props, j.uid AS job

// name: runs_inputs
// The input versions of each run in $uids: properties, the columns of their schema
// ({name, type, tags, position}) and the runs that generated them (uid, job uid, state,
// startTime; a null uid when none).
UNWIND $uids AS uid
MATCH (v:DatasetVersion)-[:CONSUMED_BY]->(r:Run {uid: uid})
OPTIONAL MATCH (p:Run)-[:GENERATED]->(v)
WITH r, v, collect({uid: p.uid, job: p.jobUid, state: p.state,
                    startTime: coalesce(p.startTime, p.nominalStartTime, p.observedAt)})
          AS producers
OPTIONAL MATCH (s:Schema {uid: v.schemaUid})-[h:HAS_FIELD]->(f:Field)
RETURN r.uid AS run, v.uid AS uid, properties(v) AS props, producers,
       collect({name: f.name, type: h.type, tags: f.tags, position: h.position}) AS columns

// name: baseline_candidates
// Runs of the job of run $run_id in state COMPLETE that started before it, newest first,
// at most $limit.
MATCH (r:Run {uid: $run_id})-[:RUN_OF]->(j:Job)<-[:RUN_OF]-(b:Run)
WHERE b.uid <> r.uid AND b.state = 'COMPLETE'
  AND coalesce(b.startTime, b.nominalStartTime, b.observedAt)
      < coalesce(r.startTime, r.nominalStartTime, r.observedAt)
WITH b ORDER BY coalesce(b.startTime, b.nominalStartTime, b.observedAt) DESC, b.uid DESC
LIMIT $limit
RETURN properties(b) AS run

// name: failed_runs_between
// For each row {producer, after, before} (run uid, epoch ms): the runs of the producer's
// job that started after `after` and before `before` and failed, aborted or went stale.
UNWIND $rows AS row
MATCH (p:Run {uid: row.producer})
WITH p, row
MATCH (p)-[:RUN_OF]->(j:Job)<-[:RUN_OF]-(o:Run)
WHERE o.state IN ['FAIL', 'ABORT', 'STALE']
  AND coalesce(o.startTime, o.nominalStartTime, o.observedAt) > row.after
  AND coalesce(o.startTime, o.nominalStartTime, o.observedAt) < row.before
RETURN row.producer AS producer, j.uid AS job, properties(o) AS run
