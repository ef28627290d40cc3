"""Projects, runs, params, tags, metric series, latest metrics and run artifacts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

Id = sa.String(32)
Key = sa.String(250)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_pk(**kwargs: bool) -> sa.Column:
    fk = sa.ForeignKey("runs.pk", ondelete="CASCADE")
    return sa.Column("run_pk", sa.BigInteger, fk, **kwargs)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", Id, nullable=False, unique=True),
        sa.Column("project_id", Id, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger),
        sa.Column("heartbeat_ms", sa.BigInteger),
        sa.Column("error", sa.Text),
        sa.Column("user_name", sa.String(250)),
        sa.Column("parent_run_id", Id),
        sa.Column("code_commit", sa.String(64)),
        sa.Column("code_diff_digest", sa.String(64)),
        sa.Column("code_repo", sa.Text),
        sa.Column("python_version", sa.String(64)),
        sa.Column("env_digest", sa.String(64)),
    )
    op.create_index("ix_runs_project_start", "runs", ["project_id", "start_ms"])
    op.create_index("ix_runs_status_heartbeat", "runs", ["status", "heartbeat_ms"])
    op.create_index("ix_runs_parent", "runs", ["parent_run_id"])
    for table in ("params", "tags"):
        op.create_table(
            table,
            _run_pk(primary_key=True),
            sa.Column("key", Key, primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
        op.create_index(f"ix_{table}_key_value", table, ["key", "value"])
    op.create_table(
        "metrics",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        _run_pk(nullable=False),
        sa.Column("key", Key, nullable=False),
        sa.Column("value", sa.Float(53)),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_pk", "key", "step"])
    op.create_table(
        "latest_metrics",
        _run_pk(primary_key=True),
        sa.Column("key", Key, primary_key=True),
        sa.Column("value", sa.Float(53)),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.create_table(
        "run_artifacts",
        _run_pk(primary_key=True),
        sa.Column("name", sa.String(500), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("serializer", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_run_artifacts_digest", "run_artifacts", ["digest"])
