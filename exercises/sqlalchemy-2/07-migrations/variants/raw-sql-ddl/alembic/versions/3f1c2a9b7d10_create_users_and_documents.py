"""create users and documents

Revision ID: 3f1c2a9b7d10
Revises:
Create Date: 2025-01-06 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '3f1c2a9b7d10'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Plain Postgres DDL, reviewed by hand."""
    op.execute(
        """
        CREATE TABLE users (
            id SERIAL PRIMARY KEY,
            email VARCHAR(255) NOT NULL UNIQUE,
            name VARCHAR(100)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE documents (
            id SERIAL PRIMARY KEY,
            title VARCHAR(200) NOT NULL,
            body VARCHAR NOT NULL,
            owner_id INTEGER NOT NULL REFERENCES users (id),
            created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP TABLE documents")
    op.execute("DROP TABLE users")
