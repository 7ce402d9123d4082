"""The self-check quiz: the session (questions, scoring, the gate) and its terminal front end."""
