"""SMS channel: providers (SMPP, Kannel, HTTP), inbox, outbox, history (SMS-01…09)."""
