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
    """Upgrade schema."""
    op.alter_column("documents", "body", new_column_name="contents")


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column("documents", "contents", new_column_name="body")
