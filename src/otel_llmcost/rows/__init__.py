"""Rows: one released trace to checked rows (dedupe, attribution, pricing, row checks, dead letters, the
trace's spans as otel_traces rows). CPU only: no I/O, no locks; the flusher calls it on its own thread."""
