"""The query side: ClickHouse's HTTP interface and named endpoints over the embedded store, read-only and
tenant-scoped (guard, scope, executor, native, interface, api)."""
