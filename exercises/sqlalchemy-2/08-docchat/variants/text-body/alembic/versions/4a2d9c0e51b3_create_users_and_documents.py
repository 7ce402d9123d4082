"""create users and documents (written by hand)

Revision ID: 4a2d9c0e51b3
Revises:
Create Date: 2025-01-20 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "4a2d9c0e51b3"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("name", sa.String(100)),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", name="fk_documents_owner_id_users"), nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
    )


def downgrade():
    op.drop_table("documents")
    op.drop_table("users")
