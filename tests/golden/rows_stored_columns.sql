-- rows_stored_columns

-- clickhouse
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00.000000", "p2": "2024-05-06 06:00:00.000000"}
SELECT "timestamp", "id", "message" FROM events WHERE "org_id" = {p0: String} AND "timestamp" >= {p1: DateTime64(6, 'UTC')} AND "timestamp" < {p2: DateTime64(6, 'UTC')} ORDER BY "timestamp" DESC, "id" DESC LIMIT 50;

-- duckdb
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00", "p2": "2024-05-06 06:00:00"}
SELECT "timestamp", "id", "message" FROM events WHERE "org_id" = $p0 AND "timestamp" >= $p1 AND "timestamp" < $p2 ORDER BY "timestamp" DESC, "id" DESC LIMIT 50;
