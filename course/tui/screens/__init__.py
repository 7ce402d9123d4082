"""Screens of the course app."""
