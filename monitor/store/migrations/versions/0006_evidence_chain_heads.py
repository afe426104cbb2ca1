"""evidence: chain heads per lead and per run, timestamp status per capture

Revision ID: 0004_evidence
Revises: 0004_console (chained after the console branch's revision at the merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_evidence"
down_revision = "0004_scale"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("evidence_head", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("evidence_count", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("crawl_runs") as batch:
        batch.add_column(sa.Column("heads_sha256", sa.String(length=64), nullable=True))
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(
            sa.Column(
                "timestamp_status", sa.String(length=10), nullable=False, server_default="none"
            )
        )
    # Leads captured before this revision: their head is their newest capture.
    op.execute(
        "UPDATE leads SET evidence_head = (SELECT e.manifest_sha256 FROM evidence e "
        "WHERE e.lead_id = leads.id ORDER BY e.id DESC LIMIT 1), "
        "evidence_count = (SELECT COUNT(*) FROM evidence e WHERE e.lead_id = leads.id)"
    )


def downgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.drop_column("timestamp_status")
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("heads_sha256")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("evidence_count")
        batch.drop_column("evidence_head")
