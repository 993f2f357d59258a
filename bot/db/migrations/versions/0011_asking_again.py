"""asking again: the flood limit's columns on support requests

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("support_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pinged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pinged_urgency", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("repeat", sa.Integer(), server_default="0", nullable=False))
    # Requests already saved were pinged when their alert was posted.
    requests = sa.table(
        "support_requests",
        sa.column("pinged_at", sa.DateTime(timezone=True)),
        sa.column("pinged_urgency", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("urgency", sa.String),
    )
    op.execute(
        requests.update().values(pinged_at=requests.c.created_at, pinged_urgency=requests.c.urgency)
    )


def downgrade() -> None:
    with op.batch_alter_table("support_requests", schema=None) as batch_op:
        batch_op.drop_column("repeat")
        batch_op.drop_column("pinged_urgency")
        batch_op.drop_column("pinged_at")
