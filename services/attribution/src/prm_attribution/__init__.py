"""Attribution: who earned the revenue, by published rules and several models."""
