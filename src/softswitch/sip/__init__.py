"""Sans-IO SIP core (RFC 3261 and companions): bytes and events in, bytes and deadlines out."""
