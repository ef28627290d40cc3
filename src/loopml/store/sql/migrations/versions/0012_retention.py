"""Run descriptions and soft deletion (a deleted run is hidden, then purged by `loopml gc`).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("description", sa.Text))
        batch.add_column(sa.Column("deleted_ms", sa.BigInteger))
    op.create_index("ix_runs_deleted", "runs", ["deleted_ms"])


def downgrade() -> None:
    op.drop_index("ix_runs_deleted", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("deleted_ms")
        batch.drop_column("description")
