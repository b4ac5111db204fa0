"""Real-time hub: typed events to browsers over one WebSocket, fanned out across nodes by Redis."""
