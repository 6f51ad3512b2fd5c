"""Events between services: the CloudEvents envelope, the transactional outbox and its relay,
and the idempotent consumer runner (inbox, manual commits, dead-letter topic)."""
