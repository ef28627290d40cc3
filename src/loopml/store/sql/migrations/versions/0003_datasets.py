"""Datasets and their versions.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False, unique=True),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("dataset_pk", sa.BigInteger, sa.ForeignKey("datasets.pk"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("files", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("schema", sa.JSON),
        sa.Column("profile_digest", sa.String(64)),
        sa.Column("producer_run_pk", sa.BigInteger, sa.ForeignKey("runs.pk")),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("dataset_pk", "version", name="uq_dataset_versions_version"),
    )
    op.create_index("ix_dataset_versions_digest", "dataset_versions", ["digest"])
    op.create_index("ix_dataset_versions_producer", "dataset_versions", ["producer_run_pk"])
