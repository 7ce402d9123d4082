"""The course's content: exercises, sections and modules, the quiz bank, validation, scaffolding."""
