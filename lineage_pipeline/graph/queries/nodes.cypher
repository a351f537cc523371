// Nodes: resolve a NODE string to a node, suggest near misses, attach jobs and datasets.
// Every query returns plain values and property maps (never node objects) and uses only
// Cypher that FalkorDB and Neo4j share (no APOC, no elementId, epoch-millisecond numbers).

// name: resolve_node
// Every node whose uid is exactly $id: label and properties (a run id, a dataset version
// "namespace:name@version", a dataset or a job "namespace:name"). Columns are resolved from
// their dataset or version (dataset_column_fields, version_fields).
MATCH (n:Run {uid: $id}) RETURN 'Run' AS label, properties(n) AS props
UNION ALL
MATCH (n:DatasetVersion {uid: $id}) RETURN 'DatasetVersion' AS label, properties(n) AS props
UNION ALL
MATCH (n:Dataset {uid: $id}) RETURN 'Dataset' AS label, properties(n) AS props
UNION ALL
MATCH (n:Job {uid: $id}) RETURN 'Job' AS label, properties(n) AS props

// name: resolve_symlink
// Datasets that name $ids among their other names (the uids of their OpenLineage symlinks
// facet's identifiers, kept in the symlinks property): a dataset found by its physical name
// or by a catalog name it is not stored under. Scans the Dataset nodes; runs only when no node
// has the uid the user gave.
MATCH (n:Dataset) WHERE any(id IN $ids WHERE id IN n.symlinks)
RETURN 'Dataset' AS label, n.uid AS uid, properties(n) AS props LIMIT 2

// name: suggest_nodes
// Datasets and jobs whose uid contains $needle (for "did you mean" hints), at most $limit each.
MATCH (n:Dataset) WHERE n.uid CONTAINS $needle RETURN 'Dataset' AS label, n.uid AS uid LIMIT $limit
UNION ALL
MATCH (n:Job) WHERE n.uid CONTAINS $needle RETURN 'Job' AS label, n.uid AS uid LIMIT $limit

// name: run_jobs
// The job of each run in $uids.
UNWIND $uids AS uid
MATCH (r:Run {uid: uid})-[:RUN_OF]->(j:Job)
RETURN r.uid AS src, j.uid AS uid, properties(j) AS props

// name: version_datasets
// The dataset of each dataset version in $uids.
UNWIND $uids AS uid
MATCH (v:DatasetVersion {uid: uid})-[:VERSION_OF]->(d:Dataset)
RETURN v.uid AS src, d.uid AS uid, properties(d) AS props

// name: version_fields
// Each dataset version in $uids with its properties and the columns of its schema
// ({name, type, tags, position}; columnStats holds their statistics).
UNWIND $uids AS uid
MATCH (v:DatasetVersion {uid: uid})
OPTIONAL MATCH (s:Schema {uid: v.schemaUid})-[h:HAS_FIELD]->(f:Field)
RETURN v.uid AS version_uid, properties(v) AS version,
       collect({name: f.name, type: h.type, tags: f.tags, position: h.position}) AS columns
