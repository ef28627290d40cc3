"""Predictions keep the model's class probabilities (scores) beside the output.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("probabilities", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("probabilities")
