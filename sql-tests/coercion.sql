-- ksqlDB's implicit typing: constructors, IN lists and comparisons with null.

--@test: string literals in an IN list are read as the tested column's type
CREATE STREAM parcels (id INT KEY, grams INT, fragile BOOLEAN, code STRING)
  WITH (kafka_topic='parcels', value_format='JSON', partitions=1);
CREATE STREAM picked AS SELECT id, grams FROM parcels
  WHERE grams IN ('250', 500) AND fragile IN ('yes') AND code IN (7, 'x');

INSERT INTO parcels (id, grams, fragile, code, ROWTIME) VALUES (1, 250, true, '7', 1);
INSERT INTO parcels (id, grams, fragile, code, ROWTIME) VALUES (2, 500, false, 'x', 2);
INSERT INTO parcels (id, grams, fragile, code, ROWTIME) VALUES (3, 500, true, 'x', 3);

ASSERT VALUES picked (id, grams, ROWTIME) VALUES (1, 250, 1);
ASSERT VALUES picked (id, grams, ROWTIME) VALUES (3, 500, 3);

--@test: an IN list item of another type is rejected with both types
CREATE STREAM parcels (id INT KEY, grams INT, code STRING)
  WITH (kafka_topic='parcels', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid Predicate: operator does not exist: INTEGER = STRING (CODE)
CREATE STREAM bad AS SELECT id FROM parcels WHERE grams IN (1, code);

--@test: a string literal that is no number is rejected in a numeric IN list
CREATE STREAM parcels (id INT KEY, grams INT)
  WITH (kafka_topic='parcels', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: invalid input syntax for type INTEGER: "heavy"
CREATE STREAM bad AS SELECT id FROM parcels WHERE grams IN (1, 'heavy');

--@test: array elements widen to a common type
CREATE STREAM nums (id INT KEY, small INT, big BIGINT)
  WITH (kafka_topic='nums', value_format='JSON', partitions=1);
CREATE STREAM lists AS SELECT id, ARRAY[small, big, '3'] AS mixed FROM nums;

INSERT INTO nums (id, small, big, ROWTIME) VALUES (1, 1, 20000000000, 1);

ASSERT VALUES lists (id, mixed, ROWTIME) VALUES (1, ARRAY[CAST(1 AS BIGINT), 20000000000, 3], 1);

--@test: structs in one array unify their fields
CREATE STREAM pts (id INT KEY, x INT, y INT)
  WITH (kafka_topic='pts', value_format='JSON', partitions=1);
CREATE STREAM shapes AS SELECT id, ARRAY[STRUCT(a := x), STRUCT(b := y)] AS parts FROM pts;

INSERT INTO pts (id, x, y, ROWTIME) VALUES (1, 3, 4, 1);

ASSERT VALUES shapes (id, parts, ROWTIME)
  VALUES (1, ARRAY[STRUCT(a := 3, b := CAST(NULL AS INT)), STRUCT(a := CAST(NULL AS INT), b := 4)], 1);

--@test: map keys and values take a common type
CREATE STREAM flags (id INT KEY, name STRING, on_ BOOLEAN)
  WITH (kafka_topic='flags', value_format='JSON', partitions=1);
CREATE STREAM flag_maps AS SELECT id, MAP(name := on_, 42 := 'no') AS m FROM flags;

INSERT INTO flags (id, name, on_, ROWTIME) VALUES (1, 'dark', true, 1);

ASSERT VALUES flag_maps (id, m, ROWTIME) VALUES (1, MAP('dark' := true, '42' := false), 1);

--@test: empty and all-null constructors are rejected
CREATE STREAM nums (id INT KEY, small INT)
  WITH (kafka_topic='nums', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Cannot construct an array with all NULL elements
CREATE STREAM bad AS SELECT id, ARRAY[NULL, NULL] AS a FROM nums;

--@test: a comparison with a null side is false, so its negation is true
CREATE STREAM pairs (id INT KEY, a INT, b INT)
  WITH (kafka_topic='pairs', value_format='JSON', partitions=1);
CREATE STREAM checked AS SELECT id, a = b AS same, NOT (a = b) AS differ FROM pairs;

INSERT INTO pairs (id, a, b, ROWTIME) VALUES (1, 5, 5, 1);
INSERT INTO pairs (id, a, ROWTIME) VALUES (2, 5, 2);

ASSERT VALUES checked (id, same, differ, ROWTIME) VALUES (1, true, false, 1);
ASSERT VALUES checked (id, same, differ, ROWTIME) VALUES (2, false, true, 2);

--@test: two NULL literals cannot be compared
CREATE STREAM pairs (id INT KEY, a INT)
  WITH (kafka_topic='pairs', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Comparison with NULL not supported: NULL = NULL
CREATE STREAM bad AS SELECT id, NULL = NULL AS x FROM pairs;

--@test: arrays are not ordered
CREATE STREAM lists (id INT KEY, l1 ARRAY<INT>, l2 ARRAY<INT>)
  WITH (kafka_topic='lists', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Cannot compare L1 (ARRAY<INTEGER>) to L2 (ARRAY<INTEGER>) with GREATER_THAN.
CREATE STREAM bad AS SELECT id, l1 > l2 AS x FROM lists;

--@test: IFNULL keeps an array an array
CREATE STREAM lists (id INT KEY, l1 ARRAY<INT>)
  WITH (kafka_topic='lists', value_format='JSON', partitions=1);
CREATE STREAM filled AS SELECT id, IFNULL(l1, ARRAY[0]) AS l FROM lists;

INSERT INTO lists (id, l1, ROWTIME) VALUES (1, ARRAY[7, 8], 1);
INSERT INTO lists (id, ROWTIME) VALUES (2, 2);

ASSERT VALUES filled (id, l, ROWTIME) VALUES (1, ARRAY[7, 8], 1);
ASSERT VALUES filled (id, l, ROWTIME) VALUES (2, ARRAY[0], 2);
