"""Incentives: the double-entry ledger that every incentive's money moves through, and
market development funds (budgets, allocations, fund requests, claims)."""
