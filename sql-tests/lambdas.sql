-- Lambda functions: TRANSFORM, FILTER and REDUCE over arrays and maps.

--@test: TRANSFORM maps every element of an array
CREATE STREAM readings (sensor STRING KEY, celsius ARRAY<DOUBLE>)
  WITH (kafka_topic='readings', value_format='JSON', partitions=1);
CREATE STREAM fahrenheit AS
  SELECT sensor, TRANSFORM(celsius, c => c * 9 / 5 + 32) AS temps FROM readings;

INSERT INTO readings (sensor, celsius, ROWTIME) VALUES ('s1', ARRAY[0.0, 100.0], 1);
INSERT INTO readings (sensor, ROWTIME) VALUES ('s2', 2);

ASSERT VALUES fahrenheit (sensor, temps, ROWTIME) VALUES ('s1', ARRAY[32.0, 212.0], 1);
ASSERT VALUES fahrenheit (sensor, temps, ROWTIME) VALUES ('s2', NULL, 2);

--@test: a lambda body can use the record's other columns
CREATE STREAM prices (shop STRING KEY, rate DOUBLE, amounts ARRAY<DOUBLE>)
  WITH (kafka_topic='prices', value_format='JSON', partitions=1);
CREATE STREAM taxed AS
  SELECT shop, TRANSFORM(amounts, a => a * rate) AS gross FROM prices;

INSERT INTO prices (shop, rate, amounts, ROWTIME) VALUES ('p', 2.0, ARRAY[1.5, 3.0], 1);
INSERT INTO prices (shop, rate, amounts, ROWTIME) VALUES ('q', 10.0, ARRAY[0.5], 2);

ASSERT VALUES taxed (shop, gross, ROWTIME) VALUES ('p', ARRAY[3.0, 6.0], 1);
ASSERT VALUES taxed (shop, gross, ROWTIME) VALUES ('q', ARRAY[5.0], 2);

--@test: TRANSFORM of a map gives new keys and new values
CREATE STREAM stock (store STRING KEY, counts MAP<STRING, INT>)
  WITH (kafka_topic='stock', value_format='JSON', partitions=1);
CREATE STREAM shouty AS
  SELECT store, TRANSFORM(counts, (item, n) => UCASE(item), (item, n) => n * 2) AS doubled FROM stock;

INSERT INTO stock (store, counts, ROWTIME) VALUES ('x', MAP('nut' := 1, 'bolt' := 4), 1);

ASSERT VALUES shouty (store, doubled, ROWTIME) VALUES ('x', MAP('NUT' := 2, 'BOLT' := 8), 1);

--@test: FILTER keeps the elements and entries the lambda holds for
CREATE STREAM scores (player STRING KEY, rounds ARRAY<INT>, by_game MAP<STRING, INT>)
  WITH (kafka_topic='scores', value_format='JSON', partitions=1);
CREATE STREAM good AS
  SELECT player, FILTER(rounds, r => r >= 10) AS high, FILTER(by_game, (g, s) => s > 0) AS won
  FROM scores;

INSERT INTO scores (player, rounds, by_game, ROWTIME)
  VALUES ('kim', ARRAY[3, 12, NULL, 10], MAP('chess' := 1, 'go' := 0), 1);

ASSERT VALUES good (player, high, won, ROWTIME) VALUES ('kim', ARRAY[12, 10], MAP('chess' := 1), 1);

--@test: REDUCE folds an array and a map into a state
CREATE STREAM carts (id INT KEY, prices ARRAY<INT>, weights MAP<STRING, DOUBLE>)
  WITH (kafka_topic='carts', value_format='JSON', partitions=1);
CREATE STREAM totals AS
  SELECT id,
    REDUCE(prices, 0, (total, p) => total + p) AS total,
    REDUCE(weights, 1.0, (acc, k, w) => acc * w) AS product,
    REDUCE(prices, '', (s, p) => CONCAT(s, CAST(p AS STRING))) AS digits
  FROM carts;

INSERT INTO carts (id, prices, weights, ROWTIME) VALUES (1, ARRAY[4, 5, 6], MAP('a' := 2.0, 'b' := 3.0), 1);
INSERT INTO carts (id, ROWTIME) VALUES (2, 2);

ASSERT VALUES totals (id, total, product, digits, ROWTIME) VALUES (1, 15, 6.0, '456', 1);
ASSERT VALUES totals (id, total, product, digits, ROWTIME) VALUES (2, 0, 1.0, '', 2);

--@test: REDUCE with a null initial state is null
CREATE STREAM carts (id INT KEY, prices ARRAY<INT>, start BIGINT)
  WITH (kafka_topic='carts', value_format='JSON', partitions=1);
CREATE STREAM totals AS SELECT id, REDUCE(prices, start, (t, p) => t + p) AS total FROM carts;

INSERT INTO carts (id, prices, start, ROWTIME) VALUES (1, ARRAY[1, 2], 10, 1);
INSERT INTO carts (id, prices, ROWTIME) VALUES (2, ARRAY[1, 2], 2);

ASSERT VALUES totals (id, total, ROWTIME) VALUES (1, 13, 1);
ASSERT VALUES totals (id, total, ROWTIME) VALUES (2, NULL, 2);

--@test: lambdas nest
CREATE STREAM matrix (id INT KEY, rows_ ARRAY<ARRAY<INT>>)
  WITH (kafka_topic='matrix', value_format='JSON', partitions=1);
CREATE STREAM row_sums AS
  SELECT id, TRANSFORM(rows_, r => REDUCE(FILTER(r, x => x > 0), 0, (s, x) => s + x)) AS sums
  FROM matrix;

INSERT INTO matrix (id, rows_, ROWTIME) VALUES (1, ARRAY[ARRAY[1, -2, 3], ARRAY[-1]], 1);

ASSERT VALUES row_sums (id, sums, ROWTIME) VALUES (1, ARRAY[4, 0], 1);

--@test: a lambda over a value that is neither an array nor a map is rejected
CREATE STREAM words (id INT KEY, w STRING)
  WITH (kafka_topic='words', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: it needs an ARRAY or a MAP
CREATE STREAM bad AS SELECT id, TRANSFORM(w, x => x) AS t FROM words;
