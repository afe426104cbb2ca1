"""entity archive: what each target's site shows about its operator

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import monitor.store.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "entity_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", monitor.store.models.UTCDateTime(), nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=True),
        sa.Column("credit_code", sa.String(length=32), nullable=True),
        sa.Column("icp", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("pages", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["crawl_runs.id"]),
        sa.ForeignKeyConstraint(["target_id"], ["targets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("entity_records")
