"""Models of the SMS channel."""
