"""The team server: the stores as a REST API, tokens and roles."""
