"""languages: a server's chosen and Discord language, each member's last-used language, and
the country whose crisis lines a server shows first

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("guild_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("discord_locale", sa.String(length=10), nullable=True))
    with op.batch_alter_table("escalation_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resources_region", sa.String(length=2), nullable=True))
    op.create_table(
        "member_languages",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_member_languages")),
    )


def downgrade() -> None:
    op.drop_table("member_languages")
    with op.batch_alter_table("escalation_settings", schema=None) as batch_op:
        batch_op.drop_column("resources_region")
    with op.batch_alter_table("guild_settings", schema=None) as batch_op:
        batch_op.drop_column("discord_locale")
        batch_op.drop_column("language")
