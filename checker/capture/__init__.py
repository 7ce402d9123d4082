"""What the learner's code sent: the statement log, statement shapes, the report of them."""
