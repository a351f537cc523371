// Completeness: how much of the organisation's lineage is captured (lineage completeness).
// Runs known only by id (a parent or root run whose own events never arrived: no state)
// do not count.

// name: completeness_runs
// Per job namespace: runs, and runs with both inputs (CONSUMED_BY) and outputs (GENERATED).
MATCH (r:Run)-[:RUN_OF]->(j:Job)
WHERE r.state IS NOT NULL
WITH j.namespace AS namespace,
     size([(v:DatasetVersion)-[:CONSUMED_BY]->(r) | v]) > 0 AS reads,
     size([(r)-[:GENERATED]->(w:DatasetVersion) | w]) > 0 AS writes
RETURN namespace, count(*) AS total,
       sum(CASE WHEN reads AND writes THEN 1 ELSE 0 END) AS count

// name: completeness_jobs
// Per job namespace: jobs with a run, and jobs whose runs declared column lineage for an
// output (a GENERATED relationship with a lineageUid).
MATCH (r:Run)-[:RUN_OF]->(j:Job)
WHERE r.state IS NOT NULL
WITH j, size([(r)-[g:GENERATED]->(:DatasetVersion) WHERE g.lineageUid IS NOT NULL | g]) AS n
WITH j, max(n) AS declared
RETURN j.namespace AS namespace, count(j) AS total,
       sum(CASE WHEN declared > 0 THEN 1 ELSE 0 END) AS count

// name: completeness_datasets
// Per dataset namespace: datasets, those with an owner (an OpenLineage ownership facet) and
// those with documentation (a documentation facet).
MATCH (d:Dataset)
RETURN d.namespace AS namespace, count(d) AS total,
       sum(CASE WHEN d.facet_ownership IS NOT NULL THEN 1 ELSE 0 END) AS owned,
       sum(CASE WHEN d.facet_documentation IS NOT NULL THEN 1 ELSE 0 END) AS documented
