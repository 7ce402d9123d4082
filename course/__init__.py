"""`course`: a terminal course runner for SQLAlchemy 2.0, Alembic and FastAPI persistence.

Its doors, each a job: ``course.cli`` (the command, by audience), ``course.content`` (what the
course is), ``course.learner`` (one learner's workspace and progress), ``course.quiz``,
``course.grading`` (one grading session; check, watch, the service, class runs); beside them
``course.postgres`` (the backends) and ``course.tui`` (the app). README's "Repository layout"
says what each holds and which may import which.
"""

__version__ = "0.2.0.dev0"
