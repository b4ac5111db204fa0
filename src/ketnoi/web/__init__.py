"""Shared web layer: dependencies, problem responses, console layout and static assets."""
