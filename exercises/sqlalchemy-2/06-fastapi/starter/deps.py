"""FastAPI dependencies for DocChat: one database session per request.

Lesson section 6, "Wiring into FastAPI".

``get_db()`` hands each request its own session and must close it when the request
is over - whether the route returned, raised ``HTTPException``, or crashed.

Write it as a *generator* (a function with ``yield``):

- the code before ``yield`` runs before the route is called;
- the value you ``yield`` is what a route declaring ``Depends(get_db)`` receives;
- the code after it runs when the request is over. If the route raised, the
  exception is re-raised *at the yield*, so only a ``finally`` block (or a ``with``
  block around the ``yield``) is sure to run.
"""

from collections.abc import Iterator

from sqlalchemy.orm import Session

from db import SessionLocal


def get_db() -> Iterator[Session]:
    """Yield a new session from ``SessionLocal`` and close it in ``finally``."""
    # TODO: open a session, yield it, close it in a finally block.
    raise NotImplementedError("get_db is not written yet")
