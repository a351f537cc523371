// Export: what the graph holds of a run, to write it out as an OpenLineage RunEvent
// (lineage_queries.export).

// name: export_job_runs
// The runs of job $job, oldest first (by startTime, else nominalStartTime, else first
// observation).
MATCH (r:Run)-[:RUN_OF]->(:Job {uid: $job})
RETURN r.uid AS uid
ORDER BY coalesce(r.startTime, r.nominalStartTime, r.observedAt), r.uid

// name: export_runs_since
// The runs whose latest event is at or after $since (epoch ms), oldest first. Scans the Run
// nodes: an export, not an incident query.
MATCH (r:Run)
WHERE coalesce(r.updatedAt, r.observedAt) >= $since
RETURN r.uid AS uid
ORDER BY coalesce(r.updatedAt, r.observedAt), r.uid

// name: export_run
// Run $run_id with its job, and the parent and root runs' ids and jobs.
MATCH (r:Run {uid: $run_id})
OPTIONAL MATCH (r)-[:RUN_OF]->(j:Job)
OPTIONAL MATCH (r)-[:CHILD_OF]->(p:Run)
OPTIONAL MATCH (p)-[:RUN_OF]->(pj:Job)
OPTIONAL MATCH (root:Run {uid: coalesce(r.rootRunId, '')})
OPTIONAL MATCH (root)-[:RUN_OF]->(rj:Job)
RETURN properties(r) AS run, properties(j) AS job, p.uid AS parent,
       pj {.namespace, .name} AS parent_job, root.uid AS root, rj {.namespace, .name} AS root_job

// name: export_run_datasets
// The input (CONSUMED_BY) and output (GENERATED, with the lineage uid its run declared)
// dataset versions of run $run_id: the version's and its dataset's properties and the
// columns of its schema ({name, type, tags, position, description}).
MATCH (v:DatasetVersion)-[:CONSUMED_BY]->(r:Run {uid: $run_id})
MATCH (v)-[:VERSION_OF]->(d:Dataset)
OPTIONAL MATCH (s:Schema {uid: v.schemaUid})-[h:HAS_FIELD]->(f:Field)
WITH v, d, collect({name: f.name, type: h.type, tags: f.tags, position: h.position,
                 description: h.description}) AS columns
RETURN 'input' AS role, properties(v) AS version, properties(d) AS dataset, columns,
       null AS lineage
UNION ALL
MATCH (r:Run {uid: $run_id})-[g:GENERATED]->(v:DatasetVersion)
MATCH (v)-[:VERSION_OF]->(d:Dataset)
OPTIONAL MATCH (s:Schema {uid: v.schemaUid})-[h:HAS_FIELD]->(f:Field)
WITH v, d, g, collect({name: f.name, type: h.type, tags: f.tags, position: h.position,
                 description: h.description})
     AS columns
RETURN 'output' AS role, properties(v) AS version, properties(d) AS dataset, columns,
       g.lineageUid AS lineage

// name: export_lineage_pairs
// The column lineage $lineage (a lineage uid) from the columns $fields (Field uids of the
// output dataset): each output column with the input column it derives from, that column's
// dataset, and the transformation (type, subtype, masking, description).
UNWIND $fields AS fuid
MATCH (o:Field {uid: fuid})-[e:DERIVED_FROM]->(i:Field)
WHERE e.lineageUid = $lineage
MATCH (d:Dataset {uid: i.datasetUid})
RETURN o.name AS outField, d.namespace AS namespace, d.name AS name, i.name AS inField,
       e.transformation AS transformation, e.subtype AS subtype, e.masking AS masking,
       e.description AS description
