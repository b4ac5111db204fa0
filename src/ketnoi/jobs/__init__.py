"""Background jobs (ARCHITECTURE.md: in-process worker on a DB-backed queue): long exports and
other work that must not hold a request, with progress the console can follow."""
