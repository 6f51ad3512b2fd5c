"""Partners service: partner organisations and their lifecycle."""
