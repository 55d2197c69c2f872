-- distribution

-- clickhouse
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00.000000", "p2": "2024-05-06 06:00:00.000000", "p3": 10.0, "p4": 100.0}
SELECT CASE WHEN toFloat64("duration_ms") IS NULL THEN NULL WHEN toFloat64("duration_ms") < {p3: Float64} THEN 0 WHEN toFloat64("duration_ms") < {p4: Float64} THEN 1 ELSE 2 END AS "__d0", COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = {p0: String} AND "timestamp" >= {p1: DateTime64(6, 'UTC')} AND "timestamp" < {p2: DateTime64(6, 'UTC')} GROUP BY CASE WHEN toFloat64("duration_ms") IS NULL THEN NULL WHEN toFloat64("duration_ms") < {p3: Float64} THEN 0 WHEN toFloat64("duration_ms") < {p4: Float64} THEN 1 ELSE 2 END ORDER BY "__d0" ASC;

-- duckdb
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00", "p2": "2024-05-06 06:00:00", "p3": 10.0, "p4": 100.0}
SELECT CASE WHEN CAST("duration_ms" AS DOUBLE) IS NULL THEN NULL WHEN CAST("duration_ms" AS DOUBLE) < $p3 THEN 0 WHEN CAST("duration_ms" AS DOUBLE) < $p4 THEN 1 ELSE 2 END AS "__d0", COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = $p0 AND "timestamp" >= $p1 AND "timestamp" < $p2 GROUP BY CASE WHEN CAST("duration_ms" AS DOUBLE) IS NULL THEN NULL WHEN CAST("duration_ms" AS DOUBLE) < $p3 THEN 0 WHEN CAST("duration_ms" AS DOUBLE) < $p4 THEN 1 ELSE 2 END ORDER BY "__d0" ASC;
