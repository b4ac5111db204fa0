"""Durable outbox of messages leaving the platform (SMS, email); the SMS module sends them."""
