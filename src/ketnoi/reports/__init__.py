"""Citizen reports: the handling workflow, SLA, auto-dispatch, lists and exports (CRM-03…38)."""
