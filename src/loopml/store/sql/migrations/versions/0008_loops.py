"""The continuous-training loop: state per deployment, timeline, leases; failed model calls.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "loop_states",
        sa.Column("deployment", sa.String(250), primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "loop_events",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("deployment", sa.String(250), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_loop_events_deployment", "loop_events", ["deployment", "pk"])
    op.create_table(
        "loop_leases",
        sa.Column("deployment", sa.String(250), primary_key=True),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "serving_failures",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("deployment", sa.String(250), nullable=False),
        sa.Column("model", sa.String(250), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
    )
    op.create_index(
        "ix_serving_failures_deployment_ts", "serving_failures", ["deployment", "ts_ms"]
    )


def downgrade() -> None:
    op.drop_table("serving_failures")
    op.drop_table("loop_leases")
    op.drop_table("loop_events")
    op.drop_table("loop_states")
