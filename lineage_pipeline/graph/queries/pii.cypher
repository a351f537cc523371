// PII: classification tags of fields and their propagation along column lineage.
// A dataset column (Field) inherits the tags of every upstream column it derives from through
// DERIVED_FROM hops none of which masks the value (OpenLineage transformation `masking`).

// name: pii_fields_of_version
// Dataset version $version with its properties and the columns of its schema
// ({name, type, tags, position}).
MATCH (v:DatasetVersion {uid: $version})
OPTIONAL MATCH (s:Schema {uid: v.schemaUid})-[h:HAS_FIELD]->(f:Field)
RETURN properties(v) AS version,
       collect({name: f.name, type: h.type, tags: f.tags, position: h.position}) AS columns

// name: pii_latest_version
// The newest version uid of dataset $dataset (by first observation).
MATCH (v:DatasetVersion)-[:VERSION_OF]->(d:Dataset {uid: $dataset})
RETURN v.uid AS uid
ORDER BY v.observedAt DESC, v.uid DESC
LIMIT 1

// name: pii_field_tags
// The tags of each dataset column (Field uid) in $uids.
UNWIND $uids AS uid
MATCH (f:Field {uid: uid})
RETURN f.uid AS uid, f.tags AS tags

// name: pii_unmasked_sources
// One hop of the propagation: for each dataset column (Field uid) in $uids, the columns it
// derives from through at least one unmasked DERIVED_FROM (any job's lineage), with their
// tags. The PII view walks it breadth-first (at most 10 hops).
UNWIND $uids AS uid
MATCH (f:Field {uid: uid})-[r:DERIVED_FROM]->(src:Field)
WITH f, src, collect(coalesce(r.masking, false)) AS masks
WHERE any(m IN masks WHERE m = false)
RETURN f.uid AS uid, src.uid AS src, src.tags AS tags
