"""Ingest: everything before the acknowledgement. An export is validated (validate.py), then admitted:
refused when the receiver is full, else written to the spool and put in the trace buffer (admit.py)."""
