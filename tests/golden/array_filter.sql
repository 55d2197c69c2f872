-- array_filter

-- clickhouse
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00.000000", "p2": "2024-05-06 06:00:00.000000", "p3": "payments", "p4": "search", "p5": "internal"}
SELECT COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = {p0: String} AND "timestamp" >= {p1: DateTime64(6, 'UTC')} AND "timestamp" < {p2: DateTime64(6, 'UTC')} AND ("kind" = 'span' AND "operation" IN ('chat', 'text_completion', 'generate_content', 'embeddings')) AND (hasAny("teams", [{p3: String}, {p4: String}]) AND NOT COALESCE(hasAny("teams", [{p5: String}]), FALSE));

-- duckdb
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00", "p2": "2024-05-06 06:00:00", "p3": "payments", "p4": "search", "p5": "internal"}
SELECT COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = $p0 AND "timestamp" >= $p1 AND "timestamp" < $p2 AND ("kind" = 'span' AND COALESCE("operation" IN ('chat', 'text_completion', 'generate_content', 'embeddings'), FALSE)) AND (LIST_HAS_ANY("teams", [$p3, $p4]) AND NOT COALESCE(LIST_HAS_ANY("teams", [$p5]), FALSE));
