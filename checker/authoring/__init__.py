"""Helpers for check authors (see ``checker.authoring``)."""
