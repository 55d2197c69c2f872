-- needle_regex_match_case

-- clickhouse
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00.000000", "p2": "2024-05-06 06:00:00.000000", "p3": "Time(out|d) \\d+"}
SELECT COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = {p0: String} AND "timestamp" >= {p1: DateTime64(6, 'UTC')} AND "timestamp" < {p2: DateTime64(6, 'UTC')} AND (COALESCE(match("message", {p3: String}), FALSE) OR COALESCE(match("error", {p3: String}), FALSE) OR COALESCE(match("span_name", {p3: String}), FALSE) OR COALESCE(match("url", {p3: String}), FALSE) OR COALESCE(match("service", {p3: String}), FALSE) OR COALESCE(match("trace_id", {p3: String}), FALSE) OR COALESCE(match("request_id", {p3: String}), FALSE) OR COALESCE(match(arrayStringConcat(mapValues("attrs_string"), '\n'), {p3: String}), FALSE));

-- duckdb
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00", "p2": "2024-05-06 06:00:00", "p3": "Time(out|d) \\d+"}
SELECT COALESCE(SUM("sample_interval"), 0) AS "__m0" FROM events WHERE "org_id" = $p0 AND "timestamp" >= $p1 AND "timestamp" < $p2 AND (COALESCE(REGEXP_MATCHES("message", $p3), FALSE) OR COALESCE(REGEXP_MATCHES("error", $p3), FALSE) OR COALESCE(REGEXP_MATCHES("span_name", $p3), FALSE) OR COALESCE(REGEXP_MATCHES("url", $p3), FALSE) OR COALESCE(REGEXP_MATCHES("service", $p3), FALSE) OR COALESCE(REGEXP_MATCHES("trace_id", $p3), FALSE) OR COALESCE(REGEXP_MATCHES("request_id", $p3), FALSE) OR COALESCE(REGEXP_MATCHES(ARRAY_TO_STRING(STRUCT_EXTRACT("attrs_string", 'v'), '
'), $p3), FALSE));
