"""The local stack: Tansu broker, FalkorDB server, processor and sink on loopback."""
