-- A retried or replayed batch carries the same insert_deduplication_token; the table must remember the
-- tokens of its last inserts to drop the repeat (plain MergeTree keeps none by default).
ALTER TABLE {database}.llm_usage{local}{on_cluster} MODIFY SETTING {dedup_window};
