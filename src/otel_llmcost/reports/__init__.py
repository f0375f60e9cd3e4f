"""The read side's reports: usage stats, what-if, repricing, time ranges, and the SQL they run."""
