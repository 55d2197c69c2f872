-- month_buckets

-- clickhouse
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00.000000", "p2": "2024-05-06 06:00:00.000000"}
SELECT intDiv(toRelativeMonthNum("timestamp") - 23641, 1) * 1 AS "__d0", COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = {p0: String} AND "timestamp" >= {p1: DateTime64(6, 'UTC')} AND "timestamp" < {p2: DateTime64(6, 'UTC')} AND ("kind" = 'span' AND "operation" IN ('chat', 'text_completion', 'generate_content', 'embeddings')) GROUP BY intDiv(toRelativeMonthNum("timestamp") - 23641, 1) * 1 ORDER BY "__d0" ASC;

-- duckdb
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00", "p2": "2024-05-06 06:00:00"}
SELECT (((YEAR("timestamp") - 1970) * 12 + MONTH("timestamp") - 1) // 1) * 1 AS "__d0", COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = $p0 AND "timestamp" >= $p1 AND "timestamp" < $p2 AND ("kind" = 'span' AND COALESCE("operation" IN ('chat', 'text_completion', 'generate_content', 'embeddings'), FALSE)) GROUP BY (((YEAR("timestamp") - 1970) * 12 + MONTH("timestamp") - 1) // 1) * 1 ORDER BY "__d0" ASC;
