"""Deployments and their revisions, predictions, labels.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False, unique=True),
        sa.Column("routes", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "deployment_revisions",
        sa.Column(
            "deployment_pk", sa.BigInteger, sa.ForeignKey("deployments.pk"), primary_key=True
        ),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("routes", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(250), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "predictions",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("deployment", sa.String(250), nullable=False),
        sa.Column("model", sa.String(250), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("output", sa.JSON),
        sa.Column("latency_ms", sa.Float, nullable=False),
    )
    op.create_index("ix_predictions_deployment_ts", "predictions", ["deployment", "ts_ms"])
    op.create_index("ix_predictions_model_ts", "predictions", ["model", "version", "ts_ms"])
    op.create_table(
        "labels",
        sa.Column("prediction_id", sa.String(32), primary_key=True),
        sa.Column("label", sa.JSON),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("labels", "predictions", "deployment_revisions", "deployments"):
        op.drop_table(table)
