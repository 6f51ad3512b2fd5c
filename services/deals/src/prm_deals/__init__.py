"""Deals service: deal registrations, checked against a local directory of partners that is
kept from the partners service's events."""
