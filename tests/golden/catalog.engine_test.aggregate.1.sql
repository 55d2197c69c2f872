-- catalog.engine_test.aggregate.1

-- clickhouse
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00.000000", "p2": "2024-05-06 06:00:00.000000", "p3": "latency"}
SELECT __u0 AS "__d0", "service" AS "__d1", CASE WHEN mapContains("attrs_number", {p3: String}) THEN "attrs_number"[{p3: String}] ELSE NULL END AS "__d2", COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM (SELECT *, arrayJoin(CASE WHEN empty("teams") THEN CAST([NULL] AS Array(Nullable(String))) ELSE arrayMap(x -> toNullable(x), "teams") END) AS __u0 FROM events WHERE "org_id" = {p0: String} AND "timestamp" >= {p1: DateTime64(6, 'UTC')} AND "timestamp" < {p2: DateTime64(6, 'UTC')}) AS u GROUP BY __u0, "service", CASE WHEN mapContains("attrs_number", {p3: String}) THEN "attrs_number"[{p3: String}] ELSE NULL END ORDER BY "__m0" DESC, "__d0" ASC, "__d1" ASC, "__d2" ASC LIMIT 100;

-- duckdb
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00", "p2": "2024-05-06 06:00:00", "p3": "latency"}
SELECT __u0 AS "__d0", "service" AS "__d1", LIST_EXTRACT(STRUCT_EXTRACT("attrs_number", 'v'), LIST_POSITION(STRUCT_EXTRACT("attrs_number", 'k'), $p3)) AS "__d2", COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM (SELECT *, UNNEST(CASE WHEN "teams" IS NULL OR LEN("teams") = 0 THEN CAST([NULL] AS TEXT[]) ELSE "teams" END) AS __u0 FROM events WHERE "org_id" = $p0 AND "timestamp" >= $p1 AND "timestamp" < $p2) AS u GROUP BY __u0, "service", LIST_EXTRACT(STRUCT_EXTRACT("attrs_number", 'v'), LIST_POSITION(STRUCT_EXTRACT("attrs_number", 'k'), $p3)) ORDER BY "__m0" DESC, "__d0" ASC, "__d1" ASC, "__d2" ASC LIMIT 100;
