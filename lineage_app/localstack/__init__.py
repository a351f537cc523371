"""The local stack: Apache Kafka, Neo4j (or FalkorDB), processor and sink on loopback."""
