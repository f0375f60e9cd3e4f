"""What an operator reads: metrics, readiness, and warnings that cannot flood the log."""
