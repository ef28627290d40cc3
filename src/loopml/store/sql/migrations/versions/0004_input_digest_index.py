"""Index run inputs by digest, so lineage finds a digest's consumers without a scan.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_index("ix_run_inputs_digest", "run_inputs", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_run_inputs_digest", "run_inputs")
