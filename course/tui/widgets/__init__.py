"""Widgets of the course app."""
