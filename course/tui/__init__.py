"""The Textual app behind ``course start``. Only this package imports Textual."""
