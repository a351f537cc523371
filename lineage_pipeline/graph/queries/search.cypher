// Search: find the datasets, jobs and runs a user types part of (the lineage page's search
// box, GET /api/v1/search). Parameterised; Cypher FalkorDB and Neo4j share.

// name: search_nodes
// Datasets and jobs whose uid contains $needle (lower-cased by the caller; compared with the
// lower-cased uid), and runs whose id starts with $needle, at most $limit of each label.
// Each: label, uid, kind (datasets), job, state and startTime (runs).
MATCH (n:Dataset) WHERE toLower(n.uid) CONTAINS $needle
RETURN 'Dataset' AS label, n.uid AS uid, n.kind AS kind, null AS job, null AS state,
       null AS startTime
ORDER BY size(n.uid), n.uid LIMIT $limit
UNION ALL
MATCH (n:Job) WHERE toLower(n.uid) CONTAINS $needle
RETURN 'Job' AS label, n.uid AS uid, 'job' AS kind, null AS job, null AS state,
       null AS startTime
ORDER BY size(n.uid), n.uid LIMIT $limit
UNION ALL
MATCH (n:Run) WHERE n.uid STARTS WITH $needle
RETURN 'Run' AS label, n.uid AS uid, 'run' AS kind, n.jobUid AS job, n.state AS state,
       n.startTime AS startTime
ORDER BY n.uid LIMIT $limit
