"""Pieces every domain shares: domain errors, list paging, phone numbers."""
