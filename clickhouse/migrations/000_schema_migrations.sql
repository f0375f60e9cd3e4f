-- Run before every migration pass (idempotent): the database and the record of applied migrations.
CREATE DATABASE IF NOT EXISTS {database}{on_cluster};

CREATE TABLE IF NOT EXISTS {database}.schema_migrations{local}{on_cluster}
(
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = {replicated}MergeTree{replica}
ORDER BY version;
