"""Call engine: SIP signalling, RTP media and PBX objects (CC-04…21)."""
