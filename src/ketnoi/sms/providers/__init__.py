"""SMS providers: SMPP 3.4 to an operator's SMSC, Kannel's sendsms, a generic signed HTTP API."""
