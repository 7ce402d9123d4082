"""rename documents body to content

Revision ID: b7e4c1d2a9f0
Revises: 3f1c2a9b7d10
Create Date: 2025-01-13 09:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b7e4c1d2a9f0'
down_revision: Union[str, Sequence[str], None] = '3f1c2a9b7d10'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the new column, copy the text over, then drop the old one: the data survives."""
    op.add_column("documents", sa.Column("content", sa.String(), nullable=True))
    op.execute("UPDATE documents SET content = body")
    op.alter_column("documents", "content", existing_type=sa.String(), nullable=False)
    op.drop_column("documents", "body")


def downgrade() -> None:
    """The same moves in reverse."""
    op.add_column("documents", sa.Column("body", sa.String(), nullable=True))
    op.execute("UPDATE documents SET body = content")
    op.alter_column("documents", "body", existing_type=sa.String(), nullable=False)
    op.drop_column("documents", "content")
