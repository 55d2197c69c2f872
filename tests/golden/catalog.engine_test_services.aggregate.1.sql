-- catalog.engine_test_services.aggregate.1

-- clickhouse
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00.000000", "p2": "2024-05-06 06:00:00.000000"}
SELECT "service" AS "__d0", "n" AS "__d1", COALESCE(COUNT(*), 0) AS "__m0" FROM (SELECT "service" AS "service", MIN("timestamp") AS "timestamp", COUNT(*) AS "n" FROM events WHERE "org_id" = {p0: String} AND "timestamp" >= {p1: DateTime64(6, 'UTC')} AND "timestamp" < {p2: DateTime64(6, 'UTC')} GROUP BY "service") AS r GROUP BY "service", "n" ORDER BY "__m0" DESC, "__d0" ASC, "__d1" ASC LIMIT 100;

-- duckdb
-- params: {"p0": "acme", "p1": "2024-05-06 00:00:00", "p2": "2024-05-06 06:00:00"}
SELECT "service" AS "__d0", "n" AS "__d1", COALESCE(COUNT(*), 0) AS "__m0" FROM (SELECT "service" AS "service", MIN("timestamp") AS "timestamp", COUNT(*) AS "n" FROM events WHERE "org_id" = $p0 AND "timestamp" >= $p1 AND "timestamp" < $p2 GROUP BY "service") AS r GROUP BY "service", "n" ORDER BY "__m0" DESC, "__d0" ASC, "__d1" ASC LIMIT 100;
