"""Flush: rows to the store in batches, retried until stored, then the spool entries released."""
