-- GROUP BY over streams and tables: the grouping expressions become the
-- key of the result table; every input record updates its group (the test
-- runner feeds one record per batch). Over a table, an update retracts the
-- row's previous contribution first and a delete only retracts.

--@test: count and sum per key of a stream
CREATE STREAM payments (card STRING KEY, amount DOUBLE, merchant STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
CREATE TABLE spend AS
  SELECT card, COUNT(*) AS n, SUM(amount) AS total FROM payments GROUP BY card;

INSERT INTO payments (card, amount, merchant, ROWTIME) VALUES ('c1', 10.0, 'm1', 1000);
INSERT INTO payments (card, amount, merchant, ROWTIME) VALUES ('c2', 3.5, 'm1', 2000);
INSERT INTO payments (card, amount, merchant, ROWTIME) VALUES ('c1', 2.5, 'm2', 3000);

ASSERT VALUES spend (card, n, total, ROWTIME) VALUES ('c1', 1, 10.0, 1000);
ASSERT VALUES spend (card, n, total, ROWTIME) VALUES ('c2', 1, 3.5, 2000);
ASSERT VALUES spend (card, n, total, ROWTIME) VALUES ('c1', 2, 12.5, 3000);

--@test: grouping by a value column re-keys, and null grouping keys are skipped
CREATE STREAM visits (id INT KEY, page STRING, ms BIGINT)
  WITH (kafka_topic='visits', value_format='JSON', partitions=1);
CREATE TABLE per_page AS
  SELECT page, COUNT(*) AS hits, MAX(ms) AS slowest, MIN(ms) AS fastest, AVG(ms) AS mean
  FROM visits GROUP BY page;

INSERT INTO visits (id, page, ms, ROWTIME) VALUES (1, '/home', 30, 1);
INSERT INTO visits (id, page, ms, ROWTIME) VALUES (2, NULL, 99, 2);
INSERT INTO visits (id, page, ms, ROWTIME) VALUES (3, '/home', 10, 3);

ASSERT VALUES per_page (page, hits, slowest, fastest, mean, ROWTIME) VALUES ('/home', 1, 30, 30, 30.0, 1);
ASSERT VALUES per_page (page, hits, slowest, fastest, mean, ROWTIME) VALUES ('/home', 2, 30, 10, 20.0, 3);

--@test: an expression as the key takes the name of its SELECT alias
CREATE STREAM words (id INT KEY, word STRING)
  WITH (kafka_topic='words', value_format='JSON', partitions=1);
CREATE TABLE by_initial AS
  SELECT SUBSTRING(word, 1, 1) AS initial, COUNT(*) AS n FROM words GROUP BY SUBSTRING(word, 1, 1);

INSERT INTO words (id, word, ROWTIME) VALUES (1, 'apple', 1);
INSERT INTO words (id, word, ROWTIME) VALUES (2, 'avocado', 2);
INSERT INTO words (id, word, ROWTIME) VALUES (3, 'banana', 3);

ASSERT VALUES by_initial (initial, n, ROWTIME) VALUES ('a', 1, 1);
ASSERT VALUES by_initial (initial, n, ROWTIME) VALUES ('a', 2, 2);
ASSERT VALUES by_initial (initial, n, ROWTIME) VALUES ('b', 1, 3);

--@test: several grouping columns form a JSON key
CREATE STREAM sales (id INT KEY, region STRING, product STRING, units INT)
  WITH (kafka_topic='sales', key_format='JSON', value_format='JSON', partitions=1);
CREATE TABLE units_by AS
  SELECT region, product, SUM(units) AS units FROM sales GROUP BY region, product;

INSERT INTO sales (id, region, product, units, ROWTIME) VALUES (1, 'eu', 'tea', 3, 1);
INSERT INTO sales (id, region, product, units, ROWTIME) VALUES (2, 'eu', 'tea', 4, 2);
INSERT INTO sales (id, region, product, units, ROWTIME) VALUES (3, 'us', 'tea', 1, 3);

ASSERT VALUES units_by (region, product, units, ROWTIME) VALUES ('eu', 'tea', 3, 1);
ASSERT VALUES units_by (region, product, units, ROWTIME) VALUES ('eu', 'tea', 7, 2);
ASSERT VALUES units_by (region, product, units, ROWTIME) VALUES ('us', 'tea', 1, 3);

--@test: HAVING emits a tombstone when a group stops passing
CREATE STREAM txns (acct STRING KEY, amount INT)
  WITH (kafka_topic='txns', value_format='JSON', partitions=1);
CREATE TABLE overdrawn AS
  SELECT acct, SUM(amount) AS balance FROM txns GROUP BY acct HAVING SUM(amount) < 0;

INSERT INTO txns (acct, amount, ROWTIME) VALUES ('a', 5, 1);
INSERT INTO txns (acct, amount, ROWTIME) VALUES ('a', -8, 2);
INSERT INTO txns (acct, amount, ROWTIME) VALUES ('a', 10, 3);

ASSERT VALUES overdrawn (acct, balance, ROWTIME) VALUES ('a', -3, 2);
ASSERT NULL VALUES overdrawn (acct) KEY ('a');

--@test: aggregating a table retracts the previous value of a row before adding the new one
CREATE TABLE employees (id INT PRIMARY KEY, dept STRING, salary INT)
  WITH (kafka_topic='employees', value_format='JSON', partitions=1);
CREATE TABLE payroll AS
  SELECT dept, COUNT(*) AS staff, SUM(salary) AS cost FROM employees GROUP BY dept;

INSERT INTO employees (id, dept, salary, ROWTIME) VALUES (1, 'ops', 100, 1);
INSERT INTO employees (id, dept, salary, ROWTIME) VALUES (2, 'ops', 50, 2);
-- employee 1 moves to dev: ops loses them, dev gains them
INSERT INTO employees (id, dept, salary, ROWTIME) VALUES (1, 'dev', 120, 3);

ASSERT VALUES payroll (dept, staff, cost, ROWTIME) VALUES ('ops', 1, 100, 1);
ASSERT VALUES payroll (dept, staff, cost, ROWTIME) VALUES ('ops', 2, 150, 2);
ASSERT VALUES payroll (dept, staff, cost, ROWTIME) VALUES ('ops', 1, 50, 3);
ASSERT VALUES payroll (dept, staff, cost, ROWTIME) VALUES ('dev', 1, 120, 3);

--@test: a non-aggregate column outside the GROUP BY is named in the error
CREATE STREAM orders (id INT KEY, customer STRING, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Non-aggregate SELECT expression(s) not part of GROUP BY: ITEM
CREATE TABLE t AS SELECT customer, item, COUNT(*) AS n FROM orders GROUP BY customer;

--@test: the grouping expression must be selected by a persistent query
CREATE STREAM logins (id INT KEY, usr STRING)
  WITH (kafka_topic='logins', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: must include the grouping expression USR in its projection
CREATE TABLE t AS SELECT COUNT(*) AS n FROM logins GROUP BY usr;

--@test: MAX cannot aggregate a table, which would need to retract it
CREATE TABLE temps (sensor STRING PRIMARY KEY, site STRING, celsius DOUBLE)
  WITH (kafka_topic='temps', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: cannot be applied to a table source, only to a stream source
CREATE TABLE hottest AS SELECT site, MAX(celsius) AS top FROM temps GROUP BY site;

--@test: an aggregate without GROUP BY is rejected
CREATE STREAM clicks (id INT KEY, url STRING)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: without a GROUP BY clause
CREATE TABLE total AS SELECT COUNT(*) AS n FROM clicks;

--@test: GROUP BY needs an aggregate
CREATE STREAM events (id INT KEY, kind STRING)
  WITH (kafka_topic='events', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: GROUP BY requires aggregate functions
CREATE TABLE kinds AS SELECT kind FROM events GROUP BY kind;
