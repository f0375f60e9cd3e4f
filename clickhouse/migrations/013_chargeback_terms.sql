-- Chargeback terms stored (issue 20), so a dashboard's billed cost follows them without a rebuild: each
-- tenant's markup (0.15 = +15 %, -0.05 = a 5 % discount) and billing currency ('*': every tenant not named), and
-- the dated exchange rates (units of the currency per 1 USD from `from_day`, UTC, until the next). `serve`
-- writes the whole set from its chargeback file (chargeback.file) when it starts and the set changed, as a
-- new `version`; readers take the newest version only, so terms removed from the file are gone, and the older
-- versions stay as the record of what was in force when. Exact Decimals, as reports/chargeback.py reads them.
CREATE TABLE IF NOT EXISTS {database}.tenant_terms{local}{on_cluster}
(
    version DateTime64(3, 'UTC'),
    tenant_id String,
    markup Decimal(38, 12),
    currency LowCardinality(String)
)
ENGINE = {replicated}MergeTree{replica}
ORDER BY (version, tenant_id);

CREATE TABLE IF NOT EXISTS {database}.exchange_rates{local}{on_cluster}
(
    version DateTime64(3, 'UTC'),
    currency LowCardinality(String),
    from_day Date,
    rate Decimal(38, 12)
)
ENGINE = {replicated}MergeTree{replica}
ORDER BY (version, currency, from_day);
