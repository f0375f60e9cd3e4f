"""Read side for FinOps: reconciliation with providers' bills, FOCUS export, chargeback statements."""
