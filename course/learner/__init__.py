"""One learner's side: the workspace, progress, status, hints, editing."""
