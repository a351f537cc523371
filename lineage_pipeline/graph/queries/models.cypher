// Models: find a model version by digest, the latest version of a dataset.

// name: versions_by_digest
// Dataset versions whose content digest is exactly $digest, at most $limit.
MATCH (v:DatasetVersion {digest: $digest})
RETURN v.uid AS uid, properties(v) AS props
ORDER BY v.uid
LIMIT $limit

// name: versions_by_digest_prefix
// Dataset versions whose digest starts with $prefix, at most $limit (a scan of versions).
MATCH (v:DatasetVersion)
WHERE v.digest STARTS WITH $prefix
RETURN v.uid AS uid, properties(v) AS props
ORDER BY v.uid
LIMIT $limit

// name: latest_version
// The most recently observed version of dataset $dataset.
MATCH (v:DatasetVersion)-[e:VERSION_OF]->(d:Dataset {uid: $dataset})
RETURN v.uid AS uid, properties(v) AS props
ORDER BY e.observedAt DESC, v.uid DESC
LIMIT 1
