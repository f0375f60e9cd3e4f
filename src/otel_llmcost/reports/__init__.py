"""The read side's reports: usage stats, what-if, repricing, time ranges, and the SQL they run; for FinOps,
reconciliation with the providers' bills, the FOCUS export and chargeback statements."""
