-- Projection and filters over one stream of orders.

--@test: a filter keeps the matching orders and drops the rest
CREATE STREAM orders (id INT KEY, item STRING, qty INT, price DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM bulk_orders AS SELECT id, item, qty FROM orders WHERE qty >= 10;

INSERT INTO orders (id, item, qty, price, ROWTIME) VALUES (1, 'apples', 3, 0.5, 1000);
INSERT INTO orders (id, item, qty, price, ROWTIME) VALUES (2, 'pears', 12, 0.8, 2000);
INSERT INTO orders (id, item, qty, price, ROWTIME) VALUES (3, 'plums', 10, 1.25, 3000);

ASSERT VALUES bulk_orders (id, item, qty, ROWTIME) VALUES (2, 'pears', 12, 2000);
ASSERT VALUES bulk_orders (id, item, qty, ROWTIME) VALUES (3, 'plums', 10, 3000);

--@test: computed columns are named by their aliases
CREATE STREAM orders (id INT KEY, item STRING, qty INT, price DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM priced AS
  SELECT id, UCASE(item) AS item, qty * price AS total, qty > 5 AS large
  FROM orders;

INSERT INTO orders (id, item, qty, price, ROWTIME) VALUES (7, 'figs', 4, 2.5, 10);

ASSERT VALUES priced (id, item, total, large, ROWTIME) VALUES (7, 'FIGS', 10.0, false, 10);

--@test: nulls pass through projections and fail comparisons
CREATE STREAM orders (id INT KEY, item STRING, qty INT)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM checked AS
  SELECT id, item, qty IS NULL AS missing_qty FROM orders WHERE item IS NOT NULL;

INSERT INTO orders (id, item, ROWTIME) VALUES (1, 'kiwis', 5);
INSERT INTO orders (id, qty, ROWTIME) VALUES (2, 8, 6);

ASSERT VALUES checked (id, item, missing_qty) VALUES (1, 'kiwis', true);

--@test: SELECT * copies every column, key included
CREATE STREAM readings (sensor STRING KEY, celsius DOUBLE, ok BOOLEAN)
  WITH (kafka_topic='readings', value_format='JSON', partitions=1);
CREATE STREAM copy AS SELECT * FROM readings;

INSERT INTO readings (sensor, celsius, ok, ROWTIME) VALUES ('s1', 21.5, true, 100);
INSERT INTO readings (sensor, celsius, ok, ROWTIME) VALUES ('s2', -3.25, false, 200);

ASSERT VALUES copy (sensor, celsius, ok, ROWTIME) VALUES ('s1', 21.5, true, 100);
ASSERT VALUES copy (sensor, celsius, ok, ROWTIME) VALUES ('s2', -3.25, false, 200);

--@test: a sink gets its own topic name from the WITH clause
CREATE STREAM readings (sensor STRING KEY, celsius DOUBLE)
  WITH (kafka_topic='readings', value_format='JSON', partitions=1);
CREATE STREAM hot WITH (kafka_topic='hot-readings') AS
  SELECT sensor, celsius FROM readings WHERE celsius > 30;

INSERT INTO readings (sensor, celsius, ROWTIME) VALUES ('s1', 35.0, 1);
INSERT INTO readings (sensor, celsius, ROWTIME) VALUES ('s1', 25.0, 2);

ASSERT VALUES hot (sensor, celsius, ROWTIME) VALUES ('s1', 35.0, 1);

--@test: a struct field's name gets a suffix when the name is taken
CREATE STREAM shapes (id INT KEY, name STRING, outer_ STRUCT<name STRING>, inner_ STRUCT<name STRING>)
  WITH (kafka_topic='shapes', value_format='JSON', partitions=1);
CREATE STREAM names AS SELECT id, name, outer_->name, inner_->name FROM shapes;

INSERT INTO shapes (id, name, outer_, inner_, ROWTIME)
  VALUES (1, 'a', STRUCT(name := 'b'), STRUCT(name := 'c'), 1);

ASSERT VALUES names (id, name, NAME_1, NAME_2, ROWTIME) VALUES (1, 'a', 'b', 'c', 1);

--@test: names may start with a digit and exponent literals are doubles
CREATE STREAM nums (id INT KEY, v DOUBLE)
  WITH (kafka_topic='nums', value_format='JSON', partitions=1);
CREATE STREAM scaled AS SELECT id, v * 1e3 AS 1k, 'a' + 'b' AS ab FROM nums;

INSERT INTO nums (id, v, ROWTIME) VALUES (1, 2.5, 1);

ASSERT VALUES scaled (id, `1K`, ab, ROWTIME) VALUES (1, 2500.0, 'ab', 1);

--@test: a string compared with ROWTIME is a timestamp
CREATE STREAM clicks (id INT KEY, page STRING)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
CREATE STREAM late AS SELECT id, page FROM clicks
  WHERE ROWTIME >= '1970-01-01T00:00:01' AND ROWTIME < '1970-01-01T02:00:00+0100';

INSERT INTO clicks (id, page, ROWTIME) VALUES (1, '/a', 500);
INSERT INTO clicks (id, page, ROWTIME) VALUES (2, '/b', 1500);
INSERT INTO clicks (id, page, ROWTIME) VALUES (3, '/c', 3600000);

ASSERT VALUES late (id, page, ROWTIME) VALUES (2, '/b', 1500);

--@test: LIKE takes another escape character
CREATE STREAM codes (id INT KEY, code STRING)
  WITH (kafka_topic='codes', value_format='JSON', partitions=1);
CREATE STREAM percents AS SELECT id, code FROM codes WHERE code LIKE '%#%' ESCAPE '#';

INSERT INTO codes (id, code, ROWTIME) VALUES (1, '50%', 1);
INSERT INTO codes (id, code, ROWTIME) VALUES (2, '50', 2);

ASSERT VALUES percents (id, code, ROWTIME) VALUES (1, '50%', 1);
