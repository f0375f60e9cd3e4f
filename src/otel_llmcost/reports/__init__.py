"""The read side's reports: usage stats, why a cost changed, one request's attempts, what-if, repricing, time
ranges, and the SQL they run."""
