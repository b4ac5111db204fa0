"""Append-only audit log of every change: who, when, what, before/after."""
