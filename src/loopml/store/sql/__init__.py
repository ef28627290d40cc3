"""SQL metadata store (SQLAlchemy 2 Core) for SQLite and PostgreSQL."""
