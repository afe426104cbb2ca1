"""per-target lookups use indexes; listings keep their revisit schedule

Revision ID: 0004_scale
Revises: 0004_console (chained after the console's indexes; three of them are shared)
"""

import sqlalchemy as sa
from alembic import op

import monitor.store.models

revision = "0004_scale"
down_revision = "0004_console"
branch_labels = None
depends_on = None

# (name, table, column): per-target and per-lead lookups
INDEXES = [
    ("ix_listings_target_id", "listings", "target_id"),
    ("ix_evidence_lead_id", "evidence", "lead_id"),
    ("ix_lead_events_lead_id", "lead_events", "lead_id"),
    ("ix_entity_records_target_id", "entity_records", "target_id"),
    ("ix_targets_url", "targets", "url"),
]


def upgrade():
    # Per-shop queries (validators, missing listings, licence findings) filter by target:
    # without these every shop scans the whole table and a night grows with its square.
    inspector = sa.inspect(op.get_bind())
    for name, table, column in INDEXES:  # another branch's migration may have made some
        if name not in {ix["name"] for ix in inspector.get_indexes(table)}:
            op.create_index(name, table, [column])
    with op.batch_alter_table("targets") as batch:
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
    with op.batch_alter_table("listings") as batch:
        batch.add_column(
            sa.Column("unchanged_streak", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("next_visit", monitor.store.models.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("next_visit")
        batch.drop_column("unchanged_streak")
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("options")
    inspector = sa.inspect(op.get_bind())
    for name, table, _ in INDEXES:
        if name in {ix["name"] for ix in inspector.get_indexes(table)}:
            op.drop_index(name, table)
