-- Table functions: EXPLODE and CUBE_EXPLODE turn one record into several.

--@test: EXPLODE gives one record per element, repeating the other columns
CREATE STREAM baskets (shopper STRING KEY, store STRING, items ARRAY<STRING>)
  WITH (kafka_topic='baskets', value_format='JSON', partitions=1);
CREATE STREAM basket_items AS SELECT shopper, store, EXPLODE(items) AS item FROM baskets;

INSERT INTO baskets (shopper, store, items, ROWTIME) VALUES ('ann', 'north', ARRAY['tea', 'jam'], 10);
INSERT INTO baskets (shopper, store, items, ROWTIME) VALUES ('bob', 'south', ARRAY['milk'], 20);

ASSERT VALUES basket_items (shopper, store, item, ROWTIME) VALUES ('ann', 'north', 'tea', 10);
ASSERT VALUES basket_items (shopper, store, item, ROWTIME) VALUES ('ann', 'north', 'jam', 10);
ASSERT VALUES basket_items (shopper, store, item, ROWTIME) VALUES ('bob', 'south', 'milk', 20);

--@test: an empty or null list gives no record
CREATE STREAM baskets (shopper STRING KEY, items ARRAY<STRING>)
  WITH (kafka_topic='baskets', value_format='JSON', partitions=1);
CREATE STREAM basket_items AS SELECT shopper, EXPLODE(items) AS item FROM baskets;

INSERT INTO baskets (shopper, items, ROWTIME) VALUES ('ann', ARRAY['pen'], 1);
INSERT INTO baskets (shopper, ROWTIME) VALUES ('bob', 2);
INSERT INTO baskets (shopper, items, ROWTIME) VALUES ('cid', ARRAY['ink'], 3);

ASSERT VALUES basket_items (shopper, item, ROWTIME) VALUES ('ann', 'pen', 1);
ASSERT VALUES basket_items (shopper, item, ROWTIME) VALUES ('cid', 'ink', 3);

--@test: two EXPLODEs are zipped, the shorter list padded with null
CREATE STREAM legs (trip INT KEY, stops ARRAY<STRING>, minutes ARRAY<INT>)
  WITH (kafka_topic='legs', value_format='JSON', partitions=1);
CREATE STREAM leg_rows AS SELECT trip, EXPLODE(stops) AS stop, EXPLODE(minutes) AS mins FROM legs;

INSERT INTO legs (trip, stops, minutes, ROWTIME) VALUES (1, ARRAY['a', 'b', 'c'], ARRAY[5, 7], 100);

ASSERT VALUES leg_rows (trip, stop, mins, ROWTIME) VALUES (1, 'a', 5, 100);
ASSERT VALUES leg_rows (trip, stop, mins, ROWTIME) VALUES (1, 'b', 7, 100);
ASSERT VALUES leg_rows (trip, stop, mins, ROWTIME) VALUES (1, 'c', NULL, 100);

--@test: WHERE filters before exploding, and a field of an exploded struct can be selected
CREATE STREAM orders (id INT KEY, region STRING, lines ARRAY<STRUCT<sku STRING, qty INT>>)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM skus AS SELECT id, EXPLODE(lines)->sku AS sku FROM orders WHERE region = 'eu';

INSERT INTO orders (id, region, lines, ROWTIME) VALUES (1, 'us', ARRAY[STRUCT(sku := 'x1', qty := 1)], 1);
INSERT INTO orders (id, region, lines, ROWTIME) VALUES (2, 'eu', ARRAY[STRUCT(sku := 'y1', qty := 2), STRUCT(sku := 'y2', qty := 3)], 2);

ASSERT VALUES skus (id, sku, ROWTIME) VALUES (2, 'y1', 2);
ASSERT VALUES skus (id, sku, ROWTIME) VALUES (2, 'y2', 2);

--@test: an unnamed table function gets a generated column name
CREATE STREAM tags (id INT KEY, labels ARRAY<STRING>)
  WITH (kafka_topic='tags', value_format='JSON', partitions=1);
CREATE STREAM tag_rows AS SELECT id, UCASE('x') AS flag, EXPLODE(labels) FROM tags;

INSERT INTO tags (id, labels, ROWTIME) VALUES (4, ARRAY['red'], 1);

ASSERT VALUES tag_rows (id, flag, KSQL_COL_0, ROWTIME) VALUES (4, 'X', 'red', 1);

--@test: CUBE_EXPLODE gives every combination of kept and nulled elements
CREATE STREAM dims (id INT KEY, country STRING, device STRING)
  WITH (kafka_topic='dims', value_format='JSON', partitions=1);
CREATE STREAM cubes AS SELECT id, CUBE_EXPLODE(ARRAY[country, device]) AS combo FROM dims;

INSERT INTO dims (id, country, device, ROWTIME) VALUES (1, 'fr', 'phone', 1);

ASSERT VALUES cubes (id, combo, ROWTIME) VALUES (1, ARRAY[CAST(NULL AS STRING), NULL], 1);
ASSERT VALUES cubes (id, combo, ROWTIME) VALUES (1, ARRAY[NULL, 'phone'], 1);
ASSERT VALUES cubes (id, combo, ROWTIME) VALUES (1, ARRAY['fr', NULL], 1);
ASSERT VALUES cubes (id, combo, ROWTIME) VALUES (1, ARRAY['fr', 'phone'], 1);

--@test: CUBE_EXPLODE does not repeat a combination because an element is null
CREATE STREAM dims (id INT KEY, country STRING, device STRING)
  WITH (kafka_topic='dims', value_format='JSON', partitions=1);
CREATE STREAM cubes AS SELECT id, CUBE_EXPLODE(ARRAY[country, device]) AS combo FROM dims;

INSERT INTO dims (id, country, ROWTIME) VALUES (2, 'de', 1);

ASSERT VALUES cubes (id, combo, ROWTIME) VALUES (2, ARRAY[CAST(NULL AS STRING), NULL], 1);
ASSERT VALUES cubes (id, combo, ROWTIME) VALUES (2, ARRAY['de', NULL], 1);

--@test: EXPLODE takes an array, not a map
CREATE STREAM prefs (id INT KEY, settings MAP<STRING, STRING>)
  WITH (kafka_topic='prefs', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Function 'explode' does not accept parameters (MAP<STRING, STRING>)
CREATE STREAM bad AS SELECT id, EXPLODE(settings) FROM prefs;

--@test: a table function cannot filter
CREATE STREAM tags (id INT KEY, labels ARRAY<STRING>)
  WITH (kafka_topic='tags', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: can only be used in the SELECT list
CREATE STREAM bad AS SELECT id FROM tags WHERE EXPLODE(labels) = 'red';
