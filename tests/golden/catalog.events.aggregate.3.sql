-- catalog.events.aggregate.3

-- clickhouse
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00.000000", "p2": "2024-05-06 06:00:00.000000", "p3": "cloudflare.cpu_time_ms"}
SELECT "request_id" AS "__d0", "duration_ms" AS "__d1", "cold_start" AS "__d2", CASE WHEN mapContains("attrs_number", {p3: String}) THEN "attrs_number"[{p3: String}] ELSE NULL END AS "__d3", "sample_interval" AS "__d4", COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = {p0: String} AND "timestamp" >= {p1: DateTime64(6, 'UTC')} AND "timestamp" < {p2: DateTime64(6, 'UTC')} GROUP BY "request_id", "duration_ms", "cold_start", CASE WHEN mapContains("attrs_number", {p3: String}) THEN "attrs_number"[{p3: String}] ELSE NULL END, "sample_interval" ORDER BY "__m0" DESC, "__d0" ASC, "__d1" ASC, "__d2" ASC, "__d3" ASC, "__d4" ASC LIMIT 100;

-- duckdb
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00", "p2": "2024-05-06 06:00:00", "p3": "cloudflare.cpu_time_ms"}
SELECT "request_id" AS "__d0", "duration_ms" AS "__d1", "cold_start" AS "__d2", LIST_EXTRACT(STRUCT_EXTRACT("attrs_number", 'v'), LIST_POSITION(STRUCT_EXTRACT("attrs_number", 'k'), $p3)) AS "__d3", "sample_interval" AS "__d4", COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = $p0 AND "timestamp" >= $p1 AND "timestamp" < $p2 GROUP BY "request_id", "duration_ms", "cold_start", LIST_EXTRACT(STRUCT_EXTRACT("attrs_number", 'v'), LIST_POSITION(STRUCT_EXTRACT("attrs_number", 'k'), $p3)), "sample_interval" ORDER BY "__m0" DESC, "__d0" ASC, "__d1" ASC, "__d2" ASC, "__d3" ASC, "__d4" ASC LIMIT 100;
