// PII: classification tags of fields and their propagation along column lineage.
// A field inherits the tags of every upstream field it derives from through DERIVED_FROM
// hops none of which masks the value (OpenLineage transformation `masking`).

// name: pii_fields_of_version
// The fields of dataset version $version: their properties (tags: pii_effective_tags).
MATCH (v:DatasetVersion {uid: $version})-[:HAS_FIELD]->(f:Field)
RETURN properties(f) AS field

// name: pii_latest_version
// The newest version uid of dataset $dataset (by first observation).
MATCH (v:DatasetVersion)-[:VERSION_OF]->(d:Dataset {uid: $dataset})
RETURN v.uid AS uid
ORDER BY v.observedAt DESC, v.uid DESC
LIMIT 1

// name: pii_effective_tags
// The fields $uids: each one's own tags and the tag lists of the upstream fields reachable
// through unmasked column lineage (at most 10 hops): the one propagation rule of the PII view.
MATCH (f:Field) WHERE f.uid IN $uids
OPTIONAL MATCH p = (f)-[:DERIVED_FROM*1..10]->(src:Field)
WHERE all(r IN relationships(p) WHERE coalesce(r.masking, false) = false)
RETURN f.uid AS uid, f.tags AS tags, collect(src.tags) AS inherited
