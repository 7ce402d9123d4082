"""Grading: one grading session, local and service runs, class runs and their reports, the dev database."""
