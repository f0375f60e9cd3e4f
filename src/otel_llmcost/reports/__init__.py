"""The read side's reports: totals, why a cost changed, one request's attempts."""
