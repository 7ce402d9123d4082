"""Processes: starting, limiting, confining and reading grading children; the runner's side."""
