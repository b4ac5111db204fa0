"""RTP/RTCP media: packets, G.711, DTMF, jitter buffer, player, recorder, bridge."""
