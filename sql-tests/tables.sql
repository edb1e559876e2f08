-- TABLEs over topics: the latest value per key, null values delete.
-- CREATE TABLE AS SELECT from a table: projections and filters keep the
-- key; a row that stops passing a filter becomes a tombstone.

--@test: a table copy keeps the key and passes updates and deletes on
CREATE TABLE accounts (id INT PRIMARY KEY, owner STRING, balance DOUBLE)
  WITH (kafka_topic='accounts', value_format='JSON', partitions=1);
CREATE TABLE balances AS SELECT id, balance FROM accounts;

INSERT INTO accounts (id, owner, balance, ROWTIME) VALUES (1, 'ann', 10.0, 100);
INSERT INTO accounts (id, owner, balance, ROWTIME) VALUES (2, 'bob', 5.5, 200);
INSERT INTO accounts (id, owner, balance, ROWTIME) VALUES (1, 'ann', 12.5, 300);

ASSERT VALUES balances (id, balance, ROWTIME) VALUES (1, 10.0, 100);
ASSERT VALUES balances (id, balance, ROWTIME) VALUES (2, 5.5, 200);
ASSERT VALUES balances (id, balance, ROWTIME) VALUES (1, 12.5, 300);

--@test: a filtered table emits a tombstone when a key stops passing, and nothing for keys it never passed
CREATE TABLE stock (sku STRING PRIMARY KEY, qty INT)
  WITH (kafka_topic='stock', value_format='JSON', partitions=1);
CREATE TABLE low_stock AS SELECT sku, qty FROM stock WHERE qty < 5;

INSERT INTO stock (sku, qty, ROWTIME) VALUES ('a', 2, 1);
INSERT INTO stock (sku, qty, ROWTIME) VALUES ('b', 50, 2);
INSERT INTO stock (sku, qty, ROWTIME) VALUES ('a', 20, 3);
INSERT INTO stock (sku, qty, ROWTIME) VALUES ('b', 1, 4);

ASSERT VALUES low_stock (sku, qty, ROWTIME) VALUES ('a', 2, 1);
ASSERT NULL VALUES low_stock (sku) KEY ('a');
ASSERT VALUES low_stock (sku, qty, ROWTIME) VALUES ('b', 1, 4);

--@test: a record with a null key is ignored by a table
CREATE TABLE users (name STRING PRIMARY KEY, age INT)
  WITH (kafka_topic='users', value_format='JSON', partitions=1);
CREATE TABLE adults AS SELECT name, age FROM users WHERE age >= 18;

INSERT INTO users (name, age, ROWTIME) VALUES (NULL, 40, 1);
INSERT INTO users (name, age, ROWTIME) VALUES ('cy', 33, 2);

ASSERT VALUES adults (name, age, ROWTIME) VALUES ('cy', 33, 2);

--@test: CREATE STREAM AS SELECT over a table is rejected
CREATE TABLE prices (sym STRING PRIMARY KEY, px DOUBLE)
  WITH (kafka_topic='prices', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Your SELECT query produces a TABLE. Please use CREATE TABLE AS SELECT
CREATE STREAM px_stream AS SELECT sym, px FROM prices;

--@test: CREATE TABLE AS SELECT over a stream without GROUP BY is rejected
CREATE STREAM ticks (sym STRING KEY, px DOUBLE)
  WITH (kafka_topic='ticks', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Your SELECT query produces a STREAM. Please use CREATE STREAM AS SELECT
CREATE TABLE tick_table AS SELECT sym, px FROM ticks;
