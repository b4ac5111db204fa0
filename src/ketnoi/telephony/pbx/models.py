"""Models of the PBX (telephony) objects."""
