-- timeseries

-- clickhouse
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00.000000", "p2": "2024-05-06 06:00:00.000000"}
SELECT intDiv(toUnixTimestamp64Micro("timestamp"), 300000000) * 300000000 AS "__bucket", COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = {p0: String} AND "timestamp" >= {p1: DateTime64(6, 'UTC')} AND "timestamp" < {p2: DateTime64(6, 'UTC')} GROUP BY intDiv(toUnixTimestamp64Micro("timestamp"), 300000000) * 300000000 ORDER BY "__bucket" ASC;

-- duckdb
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00", "p2": "2024-05-06 06:00:00"}
SELECT (EPOCH_US("timestamp") // 300000000) * 300000000 AS "__bucket", COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = $p0 AND "timestamp" >= $p1 AND "timestamp" < $p2 GROUP BY (EPOCH_US("timestamp") // 300000000) * 300000000 ORDER BY "__bucket" ASC;
