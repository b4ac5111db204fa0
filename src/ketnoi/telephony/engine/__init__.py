"""The call engine (CC-04…14, CC-21): registrar, B2BUA, trunks, prompts and call records, running the
SIP core and RTP media of the sibling packages for every organization's applied PBX configuration."""
