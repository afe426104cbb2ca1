"""the console's lead list filters by status and by first-seen day, and a lead page reads its
evidence and history by lead: indexes for each

Revision ID: 0004_console
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_console"
down_revision = "0003"
branch_labels = None
depends_on = None

# (name, table, column). The last three are also created by another branch's migration with
# the same names; whichever runs second finds them there and leaves them.
INDEXES = [
    ("ix_leads_status", "leads", "status"),
    ("ix_leads_first_seen", "leads", "first_seen"),
    ("ix_listings_target_id", "listings", "target_id"),
    ("ix_evidence_lead_id", "evidence", "lead_id"),
    ("ix_lead_events_lead_id", "lead_events", "lead_id"),
]


def upgrade():
    inspector = sa.inspect(op.get_bind())
    for name, table, column in INDEXES:
        if name not in {ix["name"] for ix in inspector.get_indexes(table)}:
            op.create_index(name, table, [column])


def downgrade():
    op.drop_index("ix_leads_first_seen", "leads")
    op.drop_index("ix_leads_status", "leads")
