"""contract: content NOT NULL, drop documents.body

Revision ID: c4d9e2f1a7b3
Revises: b7e4c1d2a9f0
Create Date: 2025-01-14 09:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "c4d9e2f1a7b3"
down_revision: Union[str, Sequence[str], None] = "b7e4c1d2a9f0"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Contract: every reader uses content now; make it NOT NULL and drop body."""
    op.execute("UPDATE documents SET content = body WHERE content IS NULL")
    op.alter_column("documents", "content", existing_type=sa.String(), nullable=False)
    op.drop_column("documents", "body")


def downgrade() -> None:
    op.add_column("documents", sa.Column("body", sa.String(), nullable=True))
    op.execute("UPDATE documents SET body = content")
    op.alter_column("documents", "body", existing_type=sa.String(), nullable=False)
    op.alter_column("documents", "content", existing_type=sa.String(), nullable=True)
