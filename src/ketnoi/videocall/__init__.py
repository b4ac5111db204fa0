"""Video-call module on Janus: partner API, routing, calls, reports (VC-01…28)."""
