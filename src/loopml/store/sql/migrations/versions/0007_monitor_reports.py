"""Monitoring reports.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "monitor_reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("dataset_drift", sa.Boolean, nullable=False),
        sa.Column("drift_share", sa.Float, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
    )
    op.create_index("ix_monitor_reports_target_ts", "monitor_reports", ["target", "ts_ms"])


def downgrade() -> None:
    op.drop_table("monitor_reports")
