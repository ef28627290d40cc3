"""Dataset versions, schemas, statistics profiles and validation."""
