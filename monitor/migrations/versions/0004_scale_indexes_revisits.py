"""per-target lookups use indexes; listings keep their revisit schedule

Revision ID: 0004_scale
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import monitor.models

revision = "0004_scale"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    # Per-shop queries (validators, missing listings, licence findings) filter by target:
    # without these every shop scans the whole table and a night grows with its square.
    op.create_index("ix_listings_target_id", "listings", ["target_id"])
    op.create_index("ix_evidence_lead_id", "evidence", ["lead_id"])
    op.create_index("ix_lead_events_lead_id", "lead_events", ["lead_id"])
    op.create_index("ix_entity_records_target_id", "entity_records", ["target_id"])
    op.create_index("ix_targets_url", "targets", ["url"])
    with op.batch_alter_table("targets") as batch:
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
    with op.batch_alter_table("listings") as batch:
        batch.add_column(
            sa.Column("unchanged_streak", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("next_visit", monitor.models.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("next_visit")
        batch.drop_column("unchanged_streak")
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("options")
    op.drop_index("ix_targets_url", "targets")
    op.drop_index("ix_entity_records_target_id", "entity_records")
    op.drop_index("ix_lead_events_lead_id", "lead_events")
    op.drop_index("ix_evidence_lead_id", "evidence")
    op.drop_index("ix_listings_target_id", "listings")
