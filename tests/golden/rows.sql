-- rows

-- clickhouse
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00.000000", "p2": "2024-05-06 06:00:00.000000", "p3": "error", "p4": "warn", "p5": "shard"}
SELECT "id" AS "__c0", intDiv(toUnixTimestamp64Micro("timestamp") + 500 * sign(toUnixTimestamp64Micro("timestamp")), 1000) AS "__c1", COALESCE(CASE WHEN mapContains("attrs_string", {p5: String}) THEN "attrs_string"[{p5: String}] ELSE NULL END, CASE WHEN mapContains("resource", {p5: String}) THEN "resource"[{p5: String}] ELSE NULL END) AS "__c2" FROM events WHERE "org_id" = {p0: String} AND "timestamp" >= {p1: DateTime64(6, 'UTC')} AND "timestamp" < {p2: DateTime64(6, 'UTC')} AND "level" IN ({p3: String}, {p4: String}) ORDER BY "timestamp" DESC, "id" DESC LIMIT 20 OFFSET 40;

-- duckdb
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00", "p2": "2024-05-06 06:00:00", "p3": "error", "p4": "warn", "p5": "shard"}
SELECT "id" AS "__c0", EPOCH_MS("timestamp") AS "__c1", COALESCE(LIST_EXTRACT(STRUCT_EXTRACT("attrs_string", 'v'), LIST_POSITION(STRUCT_EXTRACT("attrs_string", 'k'), $p5)), LIST_EXTRACT(STRUCT_EXTRACT("resource", 'v'), LIST_POSITION(STRUCT_EXTRACT("resource", 'k'), $p5))) AS "__c2" FROM events WHERE "org_id" = $p0 AND "timestamp" >= $p1 AND "timestamp" < $p2 AND COALESCE("level" IN ($p3, $p4), FALSE) ORDER BY "timestamp" DESC, "id" DESC LIMIT 20 OFFSET 40;
