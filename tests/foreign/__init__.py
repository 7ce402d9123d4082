"""The foreign-platform tier (see conftest.py, and site/sitecustomize.py)."""
