"""Generic platform code shared by every PRM service: settings, database sessions, RFC 9457
problems, the list grammar, conditional reads, money, the Idempotency-Key mechanism and the
internal principal.

Nothing here knows about partners, deals or any other domain."""
