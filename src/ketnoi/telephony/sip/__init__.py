"""SIP (RFC 3261) protocol core, sans-I/O: messages, transactions, dialogs, digest auth."""
