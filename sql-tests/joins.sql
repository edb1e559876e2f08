-- JOINs: stream-table enrichment, stream-stream windowed joins (WITHIN,
-- GRACE PERIOD), primary-key and foreign-key table-table joins, n-way
-- joins, joins feeding aggregations, and the statements ksqlDB rejects.
-- The behaviour is the one described in ../shared/reference/ksqldb-joins.md
-- (§1 what each join emits, §2 keys, columns and errors).
--
-- Tombstones: INSERT … VALUES cannot write a record with a null value, so
-- a table row is deleted here the way an application would do it: the
-- joined table is a CREATE TABLE AS SELECT with a WHERE over a raw table,
-- and an update that stops passing the filter becomes a tombstone of the
-- joined table (see tables.sql). Stream records with a null value (which
-- a join ignores) cannot be written at all and are not tested here.
--
-- Pull queries against a join's table are not part of this format (see
-- tests/pull_queries.rs); the CTAS story below reads the join's table
-- with another persistent query instead.
--
-- The runner waits for every query to catch up whenever the inserts switch
-- from one source to another, so records are joined in the order written.

-- ---------------------------------------------------------------------
-- Stream-table joins (§1.2): only stream records emit; the lookup uses the
-- table row current when the stream record is processed.
-- ---------------------------------------------------------------------

--@test: stream-table inner join enriches each order with the customer row current at that moment
CREATE STREAM orders (customer_id INT KEY, order_no STRING, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING, tier STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
CREATE STREAM enriched AS
  SELECT o.customer_id AS customer_id, o.order_no, o.amount, c.name, c.tier
  FROM orders o JOIN customers c ON o.customer_id = c.id;

INSERT INTO customers (id, name, tier, ROWTIME) VALUES (1, 'ann', 'gold', 1000);
-- matched: the output carries the order's own time
INSERT INTO orders (customer_id, order_no, amount, ROWTIME) VALUES (1, 'o-1', 10.0, 2000);
-- customer 2 is unknown: an inner join drops the order
INSERT INTO orders (customer_id, order_no, amount, ROWTIME) VALUES (2, 'o-2', 5.0, 2500);
-- table updates change the state but emit nothing
INSERT INTO customers (id, name, tier, ROWTIME) VALUES (1, 'ann', 'platinum', 3000);
INSERT INTO customers (id, name, tier, ROWTIME) VALUES (2, 'bob', 'silver', 3100);
INSERT INTO orders (customer_id, order_no, amount, ROWTIME) VALUES (1, 'o-3', 7.0, 4000);
INSERT INTO orders (customer_id, order_no, amount, ROWTIME) VALUES (2, 'o-4', 1.0, 4500);
-- not a versioned lookup: an update stamped later than the next order,
-- but processed before it, is what that order sees
INSERT INTO customers (id, name, tier, ROWTIME) VALUES (1, 'ann', 'diamond', 9000);
INSERT INTO orders (customer_id, order_no, amount, ROWTIME) VALUES (1, 'o-5', 2.0, 5000);

ASSERT VALUES enriched (customer_id, order_no, amount, name, tier, ROWTIME) VALUES (1, 'o-1', 10.0, 'ann', 'gold', 2000);
ASSERT VALUES enriched (customer_id, order_no, amount, name, tier, ROWTIME) VALUES (1, 'o-3', 7.0, 'ann', 'platinum', 4000);
ASSERT VALUES enriched (customer_id, order_no, amount, name, tier, ROWTIME) VALUES (2, 'o-4', 1.0, 'bob', 'silver', 4500);
ASSERT VALUES enriched (customer_id, order_no, amount, name, tier, ROWTIME) VALUES (1, 'o-5', 2.0, 'ann', 'diamond', 5000);

--@test: stream-table left join gives null customer columns when there is no customer yet
CREATE STREAM orders (customer_id INT KEY, order_no STRING, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
CREATE STREAM enriched AS
  SELECT o.customer_id AS customer_id, o.order_no, o.amount, c.name
  FROM orders o LEFT JOIN customers c ON o.customer_id = c.id;

INSERT INTO orders (customer_id, order_no, amount, ROWTIME) VALUES (3, 'o-1', 4.0, 1000);
-- the customer arriving later does not emit, nor fix the earlier order
INSERT INTO customers (id, name, ROWTIME) VALUES (3, 'cy', 2000);
INSERT INTO orders (customer_id, order_no, amount, ROWTIME) VALUES (3, 'o-2', 6.0, 3000);
INSERT INTO orders (customer_id, order_no, amount, ROWTIME) VALUES (4, 'o-3', 1.5, 3500);

ASSERT VALUES enriched (customer_id, order_no, amount, name, ROWTIME) VALUES (3, 'o-1', 4.0, NULL, 1000);
ASSERT VALUES enriched (customer_id, order_no, amount, name, ROWTIME) VALUES (3, 'o-2', 6.0, 'cy', 3000);
ASSERT VALUES enriched (customer_id, order_no, amount, name, ROWTIME) VALUES (4, 'o-3', 1.5, NULL, 3500);

--@test: stream-table join stops matching a customer whose row was deleted
CREATE STREAM orders (customer_id INT KEY, order_no STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE accounts (id INT PRIMARY KEY, name STRING, closed BOOLEAN)
  WITH (kafka_topic='accounts', value_format='JSON', partitions=1);
-- closing an account deletes the row of open_accounts (a tombstone)
CREATE TABLE open_accounts AS SELECT id, name FROM accounts WHERE NOT closed;
CREATE STREAM served AS
  SELECT o.customer_id AS customer_id, o.order_no, a.name
  FROM orders o JOIN open_accounts a ON o.customer_id = a.id;
CREATE STREAM audited AS
  SELECT o.customer_id AS customer_id, o.order_no, a.name
  FROM orders o LEFT JOIN open_accounts a ON o.customer_id = a.id;

INSERT INTO accounts (id, name, closed, ROWTIME) VALUES (5, 'eve', false, 1000);
INSERT INTO orders (customer_id, order_no, ROWTIME) VALUES (5, 'o-1', 2000);
-- the tombstone emits nothing from either join
INSERT INTO accounts (id, name, closed, ROWTIME) VALUES (5, 'eve', true, 3000);
INSERT INTO orders (customer_id, order_no, ROWTIME) VALUES (5, 'o-2', 4000);

ASSERT VALUES served (customer_id, order_no, name, ROWTIME) VALUES (5, 'o-1', 'eve', 2000);
ASSERT VALUES audited (customer_id, order_no, name, ROWTIME) VALUES (5, 'o-1', 'eve', 2000);
ASSERT VALUES audited (customer_id, order_no, name, ROWTIME) VALUES (5, 'o-2', NULL, 4000);

--@test: stream-table join on a value column of the stream re-keys the stream by it
CREATE STREAM orders (order_id INT KEY, customer_id INT, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
-- the result is keyed by the join key; the old key stays a value column
CREATE STREAM by_customer AS
  SELECT o.customer_id, o.order_id, o.amount, c.name
  FROM orders o JOIN customers c ON o.customer_id = c.id;

INSERT INTO customers (id, name, ROWTIME) VALUES (7, 'ann', 100);
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (1, 7, 10.0, 1000);
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (2, 8, 5.0, 1100);
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (3, 7, 2.0, 1200);

ASSERT VALUES by_customer (customer_id, order_id, amount, name, ROWTIME) VALUES (7, 1, 10.0, 'ann', 1000);
ASSERT VALUES by_customer (customer_id, order_id, amount, name, ROWTIME) VALUES (7, 3, 2.0, 'ann', 1200);

--@test: stream-table left join with WHERE keeps only orders from unknown customers
CREATE STREAM orders (customer_id INT KEY, order_no STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING, tier STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
-- WHERE runs on the joined row, null-padded or not
CREATE STREAM unknown_buyers AS
  SELECT o.customer_id AS customer_id, o.order_no
  FROM orders o LEFT JOIN customers c ON o.customer_id = c.id
  WHERE c.name IS NULL;
-- a comparison with NULL is false: null-padded rows do not pass it
CREATE STREAM not_blocked AS
  SELECT o.customer_id AS customer_id, o.order_no, c.tier
  FROM orders o LEFT JOIN customers c ON o.customer_id = c.id
  WHERE c.tier <> 'blocked';

INSERT INTO customers (id, name, tier, ROWTIME) VALUES (1, 'ann', 'gold', 100);
INSERT INTO customers (id, name, tier, ROWTIME) VALUES (2, 'bob', 'blocked', 110);
INSERT INTO orders (customer_id, order_no, ROWTIME) VALUES (1, 'o-1', 1000);
INSERT INTO orders (customer_id, order_no, ROWTIME) VALUES (2, 'o-2', 1100);
INSERT INTO orders (customer_id, order_no, ROWTIME) VALUES (3, 'o-3', 1200);

ASSERT VALUES unknown_buyers (customer_id, order_no, ROWTIME) VALUES (3, 'o-3', 1200);
ASSERT VALUES not_blocked (customer_id, order_no, tier, ROWTIME) VALUES (1, 'o-1', 'gold', 1000);

--@test: SELECT * over a stream-table join names every column after its source and keys by the stream's join column
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
-- O_CUSTOMER_ID becomes the key; the table's key C_ID stays a value column
CREATE STREAM everything AS
  SELECT * FROM orders o LEFT JOIN customers c ON o.customer_id = c.id;

INSERT INTO customers (id, name, ROWTIME) VALUES (1, 'ann', 100);
INSERT INTO orders (customer_id, amount, ROWTIME) VALUES (1, 9.5, 1000);
INSERT INTO orders (customer_id, amount, ROWTIME) VALUES (2, 3.0, 1100);

ASSERT VALUES everything (o_customer_id, o_amount, c_id, c_name, ROWTIME) VALUES (1, 9.5, 1, 'ann', 1000);
ASSERT VALUES everything (o_customer_id, o_amount, c_id, c_name, ROWTIME) VALUES (2, 3.0, NULL, NULL, 1100);

--@test: stream-table join on an expression of the stream is keyed by the table's key column, even when nothing matched
CREATE STREAM tickets (ticket_id INT KEY, customer_ref STRING, subject STRING)
  WITH (kafka_topic='tickets', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
-- the stream is re-keyed by CAST(customer_ref AS INT); the only column
-- naming the join key is the table's ID, which carries the key also for
-- null-padded rows
CREATE STREAM tickets_named AS
  SELECT c.id AS customer_id, t.ticket_id, t.subject, c.name
  FROM tickets t LEFT JOIN customers c ON CAST(t.customer_ref AS INT) = c.id;

INSERT INTO customers (id, name, ROWTIME) VALUES (42, 'ann', 100);
INSERT INTO tickets (ticket_id, customer_ref, subject, ROWTIME) VALUES (1, '42', 'refund', 1000);
INSERT INTO tickets (ticket_id, customer_ref, subject, ROWTIME) VALUES (2, '43', 'login', 1100);

ASSERT VALUES tickets_named (customer_id, ticket_id, subject, name, ROWTIME) VALUES (42, 1, 'refund', 'ann', 1000);
ASSERT VALUES tickets_named (customer_id, ticket_id, subject, name, ROWTIME) VALUES (43, 2, 'login', NULL, 1100);

--@test: stream-table join against a table built by an aggregation sees the running total
CREATE STREAM payments (card STRING KEY, amount DOUBLE)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
CREATE STREAM charges (card STRING KEY, amount DOUBLE)
  WITH (kafka_topic='charges', value_format='JSON', partitions=1);
CREATE TABLE paid_in AS SELECT card, SUM(amount) AS total FROM payments GROUP BY card;
CREATE STREAM checked_charges AS
  SELECT c.card AS card, c.amount, p.total AS credit
  FROM charges c LEFT JOIN paid_in p ON c.card = p.card;

INSERT INTO charges (card, amount, ROWTIME) VALUES ('k1', 5.0, 1000);
INSERT INTO payments (card, amount, ROWTIME) VALUES ('k1', 20.0, 2000);
INSERT INTO payments (card, amount, ROWTIME) VALUES ('k1', 10.0, 2100);
INSERT INTO charges (card, amount, ROWTIME) VALUES ('k1', 7.0, 3000);

ASSERT VALUES checked_charges (card, amount, credit, ROWTIME) VALUES ('k1', 5.0, NULL, 1000);
ASSERT VALUES checked_charges (card, amount, credit, ROWTIME) VALUES ('k1', 7.0, 30.0, 3000);

--@test: stream-table join reads the table from the beginning even when the stream starts at the latest offset
SET 'auto.offset.reset'='latest';
CREATE STREAM orders (customer_id INT KEY, order_no STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
-- written before the query starts
INSERT INTO customers (id, name, ROWTIME) VALUES (1, 'ann', 100);
INSERT INTO orders (customer_id, order_no, ROWTIME) VALUES (1, 'before', 200);
CREATE STREAM enriched AS
  SELECT o.customer_id AS customer_id, o.order_no, c.name
  FROM orders o LEFT JOIN customers c ON o.customer_id = c.id;

-- (a table update first, so that the runner lets the new query settle
-- before the next order)
INSERT INTO customers (id, name, ROWTIME) VALUES (2, 'bob', 300);
INSERT INTO orders (customer_id, order_no, ROWTIME) VALUES (1, 'after', 1000);

ASSERT VALUES enriched (customer_id, order_no, name, ROWTIME) VALUES (1, 'after', 'ann', 1000);

--@test: stream-table join started over existing data takes the inputs in timestamp order
CREATE STREAM orders (customer_id INT KEY, order_no STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, tier STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
-- all written before the query exists: like Kafka Streams, the query
-- picks the input whose next record is oldest, so the order at 2000 is
-- joined between the two customer versions
INSERT INTO customers (id, tier, ROWTIME) VALUES (1, 'silver', 100);
INSERT INTO customers (id, tier, ROWTIME) VALUES (1, 'gold', 3000);
INSERT INTO orders (customer_id, order_no, ROWTIME) VALUES (1, 'o-1', 2000);
INSERT INTO orders (customer_id, order_no, ROWTIME) VALUES (1, 'o-2', 4000);
CREATE STREAM enriched AS
  SELECT o.customer_id AS customer_id, o.order_no, c.tier
  FROM orders o JOIN customers c ON o.customer_id = c.id;

ASSERT VALUES enriched (customer_id, order_no, tier, ROWTIME) VALUES (1, 'o-1', 'silver', 2000);
ASSERT VALUES enriched (customer_id, order_no, tier, ROWTIME) VALUES (1, 'o-2', 'gold', 4000);

-- ---------------------------------------------------------------------
-- Stream-stream joins (§1.1): a record matches the other side's records of
-- the same key inside the window, bounds inclusive; a joined row carries
-- the later of the two timestamps.
-- ---------------------------------------------------------------------

--@test: stream-stream inner join pairs clicks with impressions within the window, in both directions
CREATE STREAM impressions (ad_id STRING KEY, placement STRING)
  WITH (kafka_topic='impressions', value_format='JSON', partitions=1);
CREATE STREAM clicks (ad_id STRING KEY, device STRING)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
CREATE STREAM clicked AS
  SELECT i.ad_id AS ad_id, i.placement, c.device
  FROM impressions i JOIN clicks c WITHIN 10 SECONDS ON i.ad_id = c.ad_id;

INSERT INTO impressions (ad_id, placement, ROWTIME) VALUES ('a', 'top', 1000);
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('a', 'phone', 4000);
INSERT INTO impressions (ad_id, placement, ROWTIME) VALUES ('a', 'banner', 6000);
-- b's click comes 11 s after its impression: outside the window
INSERT INTO impressions (ad_id, placement, ROWTIME) VALUES ('b', 'side', 20000);
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('b', 'tablet', 31000);
-- exactly 10 s after the first impression of a (bounds are inclusive):
-- it matches both impressions of a, in their order
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('a', 'laptop', 11000);
-- the click can come first: the impression then finds it
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('d', 'phone', 60000);
INSERT INTO impressions (ad_id, placement, ROWTIME) VALUES ('d', 'footer', 55000);

ASSERT VALUES clicked (ad_id, placement, device, ROWTIME) VALUES ('a', 'top', 'phone', 4000);
ASSERT VALUES clicked (ad_id, placement, device, ROWTIME) VALUES ('a', 'banner', 'phone', 6000);
ASSERT VALUES clicked (ad_id, placement, device, ROWTIME) VALUES ('a', 'top', 'laptop', 11000);
ASSERT VALUES clicked (ad_id, placement, device, ROWTIME) VALUES ('a', 'banner', 'laptop', 11000);
ASSERT VALUES clicked (ad_id, placement, device, ROWTIME) VALUES ('d', 'footer', 'phone', 60000);

--@test: stream-stream join with WITHIN (before, after) accepts shipments up to 5 s before and 30 s after the order
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM shipments (id INT KEY, carrier STRING)
  WITH (kafka_topic='shipments', value_format='JSON', partitions=1);
CREATE STREAM shipped AS
  SELECT o.id AS id, o.item, s.carrier
  FROM orders o JOIN shipments s WITHIN (5 SECONDS, 30 SECONDS) ON o.id = s.id;

-- 30 s after: matches
INSERT INTO orders (id, item, ROWTIME) VALUES (1, 'book', 10000);
INSERT INTO shipments (id, carrier, ROWTIME) VALUES (1, 'ups', 40000);
-- 31 s after: does not
INSERT INTO orders (id, item, ROWTIME) VALUES (2, 'lamp', 100000);
INSERT INTO shipments (id, carrier, ROWTIME) VALUES (2, 'dhl', 131000);
-- 5 s before: matches
INSERT INTO orders (id, item, ROWTIME) VALUES (3, 'desk', 200000);
INSERT INTO shipments (id, carrier, ROWTIME) VALUES (3, 'fedex', 195000);
-- 6 s before: does not
INSERT INTO orders (id, item, ROWTIME) VALUES (4, 'sofa', 300000);
INSERT INTO shipments (id, carrier, ROWTIME) VALUES (4, 'ups', 294000);
-- the same window seen from the shipment arriving first: 30 s after the order
INSERT INTO shipments (id, carrier, ROWTIME) VALUES (5, 'dhl', 400000);
INSERT INTO orders (id, item, ROWTIME) VALUES (5, 'rug', 370000);
-- and a shipment 6 s before an order that arrives after it: no match
INSERT INTO shipments (id, carrier, ROWTIME) VALUES (6, 'dhl', 500000);
INSERT INTO orders (id, item, ROWTIME) VALUES (6, 'vase', 506000);

ASSERT VALUES shipped (id, item, carrier, ROWTIME) VALUES (1, 'book', 'ups', 40000);
ASSERT VALUES shipped (id, item, carrier, ROWTIME) VALUES (3, 'desk', 'fedex', 200000);
ASSERT VALUES shipped (id, item, carrier, ROWTIME) VALUES (5, 'rug', 'dhl', 400000);

--@test: stream-stream left join without GRACE emits the unmatched order at once, then the match
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
CREATE STREAM order_payments AS
  SELECT o.id AS id, o.item, p.method
  FROM orders o LEFT JOIN payments p WITHIN 1 MINUTE ON o.id = p.id;

INSERT INTO orders (id, item, ROWTIME) VALUES (1, 'book', 1000);
INSERT INTO payments (id, method, ROWTIME) VALUES (1, 'card', 5000);
INSERT INTO orders (id, item, ROWTIME) VALUES (2, 'lamp', 10000);
-- a payment without an order: the right side is not outer in a LEFT join
INSERT INTO payments (id, method, ROWTIME) VALUES (3, 'cash', 12000);
-- a payment long after the window does not match
INSERT INTO payments (id, method, ROWTIME) VALUES (2, 'card', 200000);

ASSERT VALUES order_payments (id, item, method, ROWTIME) VALUES (1, 'book', NULL, 1000);
ASSERT VALUES order_payments (id, item, method, ROWTIME) VALUES (1, 'book', 'card', 5000);
ASSERT VALUES order_payments (id, item, method, ROWTIME) VALUES (2, 'lamp', NULL, 10000);

--@test: stream-stream right join without GRACE emits the unmatched payment at once and ignores orders alone
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
-- output columns stay left ++ right; the key comes from the payment
CREATE STREAM payment_orders AS
  SELECT p.id AS id, o.item, p.method
  FROM orders o RIGHT JOIN payments p WITHIN 1 MINUTE ON o.id = p.id;

INSERT INTO payments (id, method, ROWTIME) VALUES (1, 'card', 1000);
INSERT INTO orders (id, item, ROWTIME) VALUES (1, 'book', 3000);
INSERT INTO orders (id, item, ROWTIME) VALUES (2, 'lamp', 4000);
INSERT INTO payments (id, method, ROWTIME) VALUES (2, 'cash', 7000);

ASSERT VALUES payment_orders (id, item, method, ROWTIME) VALUES (1, NULL, 'card', 1000);
ASSERT VALUES payment_orders (id, item, method, ROWTIME) VALUES (1, 'book', 'card', 3000);
ASSERT VALUES payment_orders (id, item, method, ROWTIME) VALUES (2, 'lamp', 'cash', 7000);

--@test: stream-stream full join without GRACE emits unmatched records of either side at once
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
-- a FULL join has no source column for its key: it is the synthetic ROWKEY
CREATE STREAM reconciliation AS
  SELECT ROWKEY AS id, o.item, p.method
  FROM orders o FULL OUTER JOIN payments p WITHIN 1 MINUTE ON o.id = p.id;

INSERT INTO orders (id, item, ROWTIME) VALUES (1, 'book', 1000);
INSERT INTO payments (id, method, ROWTIME) VALUES (2, 'cash', 2000);
INSERT INTO payments (id, method, ROWTIME) VALUES (1, 'card', 3000);
-- order 2 comes long after its payment: no match, emitted alone
INSERT INTO orders (id, item, ROWTIME) VALUES (2, 'lamp', 200000);

ASSERT VALUES reconciliation (id, item, method, ROWTIME) VALUES (1, 'book', NULL, 1000);
ASSERT VALUES reconciliation (id, item, method, ROWTIME) VALUES (2, NULL, 'cash', 2000);
ASSERT VALUES reconciliation (id, item, method, ROWTIME) VALUES (1, 'book', 'card', 3000);
ASSERT VALUES reconciliation (id, item, method, ROWTIME) VALUES (2, 'lamp', NULL, 200000);

--@test: stream-stream join lists matches in the other side's time order, not arrival order
CREATE STREAM impressions (ad_id STRING KEY, placement STRING)
  WITH (kafka_topic='impressions', value_format='JSON', partitions=1);
CREATE STREAM clicks (ad_id STRING KEY, device STRING)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
CREATE STREAM clicked AS
  SELECT i.ad_id AS ad_id, i.placement, c.device
  FROM impressions i JOIN clicks c WITHIN 10 SECONDS ON i.ad_id = c.ad_id;

-- the later impression arrives first
INSERT INTO impressions (ad_id, placement, ROWTIME) VALUES ('a', 'banner', 6000);
INSERT INTO impressions (ad_id, placement, ROWTIME) VALUES ('a', 'top', 1000);
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('a', 'phone', 11000);

ASSERT VALUES clicked (ad_id, placement, device, ROWTIME) VALUES ('a', 'top', 'phone', 11000);
ASSERT VALUES clicked (ad_id, placement, device, ROWTIME) VALUES ('a', 'banner', 'phone', 11000);

--@test: stream-stream join with unaliased qualified columns names a clashing column after its source
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
-- ID is in both sources: o.id is named O_ID (the key), p.id P_ID (a value,
-- null while no payment matched); ITEM and METHOD keep their names
CREATE STREAM order_payments AS
  SELECT o.id, p.id, o.item, p.method
  FROM orders o LEFT JOIN payments p WITHIN 1 MINUTE ON o.id = p.id;

INSERT INTO orders (id, item, ROWTIME) VALUES (1, 'book', 1000);
INSERT INTO payments (id, method, ROWTIME) VALUES (1, 'card', 2000);

ASSERT VALUES order_payments (o_id, p_id, item, method, ROWTIME) VALUES (1, NULL, 'book', NULL, 1000);
ASSERT VALUES order_payments (o_id, p_id, item, method, ROWTIME) VALUES (1, 1, 'book', 'card', 2000);

--@test: stream-stream join on expressions of both sides keys the result by a synthetic ROWKEY
CREATE STREAM signups (id INT KEY, email STRING)
  WITH (kafka_topic='signups', value_format='JSON', partitions=1);
CREATE STREAM logins (id INT KEY, email STRING, device STRING)
  WITH (kafka_topic='logins', value_format='JSON', partitions=1);
-- no source column is the join key: ROWKEY holds the lower-cased email
CREATE STREAM first_logins AS
  SELECT ROWKEY AS email_key, s.id AS signup_id, l.device
  FROM signups s JOIN logins l WITHIN 1 HOUR ON LCASE(s.email) = LCASE(l.email);

INSERT INTO signups (id, email, ROWTIME) VALUES (1, 'Ann@Example.com', 1000);
INSERT INTO logins (id, email, device, ROWTIME) VALUES (77, 'ann@example.COM', 'phone', 5000);
INSERT INTO logins (id, email, device, ROWTIME) VALUES (78, 'bob@example.com', 'laptop', 6000);

ASSERT VALUES first_logins (email_key, signup_id, device, ROWTIME) VALUES ('ann@example.com', 1, 'phone', 5000);

--@test: stream-stream inner join drops records with a null key, a left join emits them null-padded at once
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
CREATE STREAM paid AS
  SELECT o.id AS id, o.item, p.method
  FROM orders o JOIN payments p WITHIN 1 MINUTE ON o.id = p.id;
CREATE STREAM order_log AS
  SELECT o.id AS id, o.item, p.method
  FROM orders o LEFT JOIN payments p WITHIN 1 MINUTE ON o.id = p.id;

INSERT INTO orders (id, item, ROWTIME) VALUES (NULL, 'ghost', 1000);
INSERT INTO payments (id, method, ROWTIME) VALUES (NULL, 'cash', 2000);
INSERT INTO orders (id, item, ROWTIME) VALUES (1, 'book', 3000);
INSERT INTO payments (id, method, ROWTIME) VALUES (1, 'card', 4000);

ASSERT VALUES paid (id, item, method, ROWTIME) VALUES (1, 'book', 'card', 4000);
ASSERT VALUES order_log (id, item, method, ROWTIME) VALUES (NULL, 'ghost', NULL, 1000);
ASSERT VALUES order_log (id, item, method, ROWTIME) VALUES (1, 'book', NULL, 3000);
ASSERT VALUES order_log (id, item, method, ROWTIME) VALUES (1, 'book', 'card', 4000);

--@test: stream-stream right join matches the asymmetric window from the right record's side
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM shipments (id INT KEY, carrier STRING)
  WITH (kafka_topic='shipments', value_format='JSON', partitions=1);
-- ksqlDB runs a RIGHT join as shipments LEFT JOIN orders with the same
-- (before, after): a shipment at t matches orders in [t - 5 s, t + 30 s]
CREATE STREAM shipment_log AS
  SELECT s.id AS id, o.item, s.carrier
  FROM orders o RIGHT JOIN shipments s WITHIN (5 SECONDS, 30 SECONDS) ON o.id = s.id;

-- order 30 s before the shipment: outside [t - 5 s, t + 30 s]
INSERT INTO orders (id, item, ROWTIME) VALUES (1, 'book', 10000);
INSERT INTO shipments (id, carrier, ROWTIME) VALUES (1, 'ups', 40000);
-- order 5 s before the shipment: inside
INSERT INTO orders (id, item, ROWTIME) VALUES (2, 'lamp', 100000);
INSERT INTO shipments (id, carrier, ROWTIME) VALUES (2, 'dhl', 105000);

ASSERT VALUES shipment_log (id, item, carrier, ROWTIME) VALUES (1, NULL, 'ups', 40000);
ASSERT VALUES shipment_log (id, item, carrier, ROWTIME) VALUES (2, 'lamp', 'dhl', 105000);

--@test: stream-stream join can select each side's ROWTIME as a value
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
CREATE STREAM payment_delay AS
  SELECT o.id AS id, o.ROWTIME AS ordered_at, p.ROWTIME AS paid_at
  FROM orders o LEFT JOIN payments p WITHIN 1 MINUTE ON o.id = p.id;

INSERT INTO orders (id, item, ROWTIME) VALUES (1, 'book', 1000);
INSERT INTO payments (id, method, ROWTIME) VALUES (1, 'card', 4000);

ASSERT VALUES payment_delay (id, ordered_at, paid_at, ROWTIME) VALUES (1, 1000, NULL, 1000);
ASSERT VALUES payment_delay (id, ordered_at, paid_at, ROWTIME) VALUES (1, 1000, 4000, 4000);

--@test: keyless streams are joined on value columns
CREATE STREAM page_loads (page STRING, ms INT)
  WITH (kafka_topic='page_loads', value_format='JSON', partitions=1);
CREATE STREAM page_errors (page STRING, code INT)
  WITH (kafka_topic='page_errors', value_format='JSON', partitions=1);
CREATE STREAM slow_failures AS
  SELECT l.page AS page, l.ms, e.code
  FROM page_loads l JOIN page_errors e WITHIN 5 SECONDS ON l.page = e.page;

INSERT INTO page_loads (page, ms, ROWTIME) VALUES ('/cart', 900, 1000);
INSERT INTO page_loads (page, ms, ROWTIME) VALUES ('/home', 50, 1100);
INSERT INTO page_errors (page, code, ROWTIME) VALUES ('/cart', 500, 2000);

ASSERT VALUES slow_failures (page, ms, code, ROWTIME) VALUES ('/cart', 900, 500, 2000);

--@test: stream-stream left join with GRACE holds an unacknowledged alarm until its window closes
CREATE STREAM alarms (id INT KEY, device STRING)
  WITH (kafka_topic='alarms', value_format='JSON', partitions=1);
CREATE STREAM acks (id INT KEY, operator STRING)
  WITH (kafka_topic='acks', value_format='JSON', partitions=1);
-- an alarm at t is released when stream time passes t + 10 s + 5 s
CREATE STREAM alarm_log AS
  SELECT a.id AS id, a.device, k.operator
  FROM alarms a LEFT JOIN acks k WITHIN 10 SECONDS GRACE PERIOD 5 SECONDS ON a.id = k.id;

-- held, then acknowledged: only the joined row is ever emitted
INSERT INTO alarms (id, device, ROWTIME) VALUES (1, 'pump', 1000);
INSERT INTO acks (id, operator, ROWTIME) VALUES (1, 'eve', 3000);
INSERT INTO alarms (id, device, ROWTIME) VALUES (2, 'valve', 4000);
INSERT INTO alarms (id, device, ROWTIME) VALUES (3, 'fan', 5000);
INSERT INTO alarms (id, device, ROWTIME) VALUES (5, 'lamp', 6000);
-- stream time 19000 = 4000 + 15000: alarm 2 is not released yet ...
INSERT INTO acks (id, operator, ROWTIME) VALUES (9, 'joe', 19000);
-- ... so a (late) ack inside its window still turns it into a joined row
INSERT INTO acks (id, operator, ROWTIME) VALUES (2, 'ann', 14000);
-- an ack of another alarm (the right side) releases alarm 3
INSERT INTO acks (id, operator, ROWTIME) VALUES (8, 'joe', 20001);
-- an alarm (the left side) releases alarm 5; alarm 4 itself stays held,
-- as no later record arrives
INSERT INTO alarms (id, device, ROWTIME) VALUES (4, 'door', 25000);

ASSERT VALUES alarm_log (id, device, operator, ROWTIME) VALUES (1, 'pump', 'eve', 3000);
ASSERT VALUES alarm_log (id, device, operator, ROWTIME) VALUES (2, 'valve', 'ann', 14000);
ASSERT VALUES alarm_log (id, device, operator, ROWTIME) VALUES (3, 'fan', NULL, 5000);
ASSERT VALUES alarm_log (id, device, operator, ROWTIME) VALUES (5, 'lamp', NULL, 6000);

--@test: stream-stream left join with GRACE emits a late alarm null-padded at once
CREATE STREAM alarms (id INT KEY, device STRING)
  WITH (kafka_topic='alarms', value_format='JSON', partitions=1);
CREATE STREAM acks (id INT KEY, operator STRING)
  WITH (kafka_topic='acks', value_format='JSON', partitions=1);
CREATE STREAM alarm_log AS
  SELECT a.id AS id, a.device, k.operator
  FROM alarms a LEFT JOIN acks k WITHIN 10 SECONDS GRACE PERIOD 5 SECONDS ON a.id = k.id;

INSERT INTO alarms (id, device, ROWTIME) VALUES (1, 'pump', 100000);
-- 50000 + 10 s is long before stream time 100000: the window has closed,
-- so it cannot be held and comes out immediately
INSERT INTO alarms (id, device, ROWTIME) VALUES (2, 'valve', 50000);
INSERT INTO acks (id, operator, ROWTIME) VALUES (1, 'eve', 101000);

ASSERT VALUES alarm_log (id, device, operator, ROWTIME) VALUES (2, 'valve', NULL, 50000);
ASSERT VALUES alarm_log (id, device, operator, ROWTIME) VALUES (1, 'pump', 'eve', 101000);

--@test: stream-stream left join with GRACE emits an alarm past its window end at once, even within the grace, and still joins it later
CREATE STREAM alarms (id INT KEY, device STRING)
  WITH (kafka_topic='alarms', value_format='JSON', partitions=1);
CREATE STREAM acks (id INT KEY, operator STRING)
  WITH (kafka_topic='acks', value_format='JSON', partitions=1);
CREATE STREAM alarm_log AS
  SELECT a.id AS id, a.device, k.operator
  FROM alarms a LEFT JOIN acks k WITHIN 10 SECONDS GRACE PERIOD 5 SECONDS ON a.id = k.id;

INSERT INTO alarms (id, device, ROWTIME) VALUES (1, 'pump', 100000);
-- 88000 + 10 s < 100000: the window has ended (though not the grace),
-- so the alarm is not held but emitted null-padded now
INSERT INTO alarms (id, device, ROWTIME) VALUES (2, 'valve', 88000);
-- it is still buffered: an ack inside its window joins it
INSERT INTO acks (id, operator, ROWTIME) VALUES (2, 'joe', 95000);

ASSERT VALUES alarm_log (id, device, operator, ROWTIME) VALUES (2, 'valve', NULL, 88000);
ASSERT VALUES alarm_log (id, device, operator, ROWTIME) VALUES (2, 'valve', 'joe', 95000);

--@test: stream-stream right join with GRACE emits a late ack at once and still joins it with a later alarm
CREATE STREAM alarms (id INT KEY, device STRING)
  WITH (kafka_topic='alarms', value_format='JSON', partitions=1);
CREATE STREAM acks (id INT KEY, operator STRING)
  WITH (kafka_topic='acks', value_format='JSON', partitions=1);
-- each side keeps records for 30 + 30 + 10 s behind the newest record of
-- that side (not behind the shared stream time)
CREATE STREAM ack_log AS
  SELECT k.id AS id, a.device, k.operator
  FROM alarms a RIGHT JOIN acks k WITHIN 30 SECONDS GRACE PERIOD 10 SECONDS ON a.id = k.id;

INSERT INTO alarms (id, device, ROWTIME) VALUES (1, 'pump', 100000);
INSERT INTO acks (id, operator, ROWTIME) VALUES (1, 'eve', 110000);
-- stream time jumps to 300000 (alarms are the inner side: nothing emitted)
INSERT INTO alarms (id, device, ROWTIME) VALUES (9, 'door', 300000);
-- late ack: emitted null-padded at once, and kept (newest ack is 200000)
INSERT INTO acks (id, operator, ROWTIME) VALUES (2, 'joe', 200000);
-- a late alarm within 30 s of it still finds it
INSERT INTO alarms (id, device, ROWTIME) VALUES (2, 'valve', 210000);

ASSERT VALUES ack_log (id, device, operator, ROWTIME) VALUES (1, 'pump', 'eve', 110000);
ASSERT VALUES ack_log (id, device, operator, ROWTIME) VALUES (2, NULL, 'joe', 200000);
ASSERT VALUES ack_log (id, device, operator, ROWTIME) VALUES (2, 'valve', 'joe', 210000);

--@test: stream-stream full join with GRACE holds both sides and releases them in time order
CREATE STREAM alarms (id INT KEY, device STRING)
  WITH (kafka_topic='alarms', value_format='JSON', partitions=1);
CREATE STREAM acks (id INT KEY, operator STRING)
  WITH (kafka_topic='acks', value_format='JSON', partitions=1);
-- a record at t is released when stream time passes t + 10 s + 2 s
CREATE STREAM alarm_audit AS
  SELECT ROWKEY AS id, a.device, k.operator
  FROM alarms a FULL OUTER JOIN acks k WITHIN 10 SECONDS GRACE PERIOD 2 SECONDS ON a.id = k.id;

INSERT INTO alarms (id, device, ROWTIME) VALUES (1, 'pump', 1000);
INSERT INTO acks (id, operator, ROWTIME) VALUES (2, 'joe', 2000);
INSERT INTO acks (id, operator, ROWTIME) VALUES (1, 'eve', 3000);
-- stream time 20000 releases ack 2 (2000 + 12000 < 20000) before alarm 3 is held
INSERT INTO alarms (id, device, ROWTIME) VALUES (3, 'fan', 20000);
INSERT INTO acks (id, operator, ROWTIME) VALUES (6, 'ann', 20000);
-- releases ack 6 and alarm 3, both at 20000: the right side first
INSERT INTO acks (id, operator, ROWTIME) VALUES (7, 'bob', 40000);

ASSERT VALUES alarm_audit (id, device, operator, ROWTIME) VALUES (1, 'pump', 'eve', 3000);
ASSERT VALUES alarm_audit (id, device, operator, ROWTIME) VALUES (2, NULL, 'joe', 2000);
ASSERT VALUES alarm_audit (id, device, operator, ROWTIME) VALUES (6, NULL, 'ann', 20000);
ASSERT VALUES alarm_audit (id, device, operator, ROWTIME) VALUES (3, 'fan', NULL, 20000);

--@test: stream-stream left join with GRACE null-pads an alarm whose ack came outside the window, releasing held alarms in time then key order
CREATE STREAM alarms (id INT KEY, device STRING)
  WITH (kafka_topic='alarms', value_format='JSON', partitions=1);
CREATE STREAM acks (id INT KEY, operator STRING)
  WITH (kafka_topic='acks', value_format='JSON', partitions=1);
CREATE STREAM alarm_log AS
  SELECT a.id AS id, a.device, k.operator
  FROM alarms a LEFT JOIN acks k WITHIN 10 SECONDS GRACE PERIOD 5 SECONDS ON a.id = k.id;

INSERT INTO alarms (id, device, ROWTIME) VALUES (5, 'pump', 1000);
INSERT INTO alarms (id, device, ROWTIME) VALUES (3, 'fan', 1000);
-- 12 s after the alarms: too late to match, too early to close them
INSERT INTO acks (id, operator, ROWTIME) VALUES (5, 'eve', 13000);
-- stream time 17000 > 1000 + 15000: both are released, key 3 before key 5
INSERT INTO acks (id, operator, ROWTIME) VALUES (9, 'joe', 17000);

ASSERT VALUES alarm_log (id, device, operator, ROWTIME) VALUES (3, 'fan', NULL, 1000);
ASSERT VALUES alarm_log (id, device, operator, ROWTIME) VALUES (5, 'pump', NULL, 1000);

--@test: stream-stream join with GRACE forgets records older than before + after + grace; without GRACE it keeps a day
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
-- orders are kept for 10 + 10 + 0 s behind the newest order
CREATE STREAM paid_strict AS
  SELECT o.id AS id, o.item, p.method
  FROM orders o JOIN payments p WITHIN 10 SECONDS GRACE PERIOD 0 SECONDS ON o.id = p.id;
-- no GRACE: kept for 24 hours
CREATE STREAM paid_legacy AS
  SELECT o.id AS id, o.item, p.method
  FROM orders o JOIN payments p WITHIN 10 SECONDS ON o.id = p.id;

INSERT INTO orders (id, item, ROWTIME) VALUES (1, 'book', 1000);
INSERT INTO orders (id, item, ROWTIME) VALUES (2, 'lamp', 100000);
-- a late payment for order 1, inside its window
INSERT INTO payments (id, method, ROWTIME) VALUES (1, 'card', 5000);
INSERT INTO payments (id, method, ROWTIME) VALUES (2, 'cash', 105000);

ASSERT VALUES paid_strict (id, item, method, ROWTIME) VALUES (2, 'lamp', 'cash', 105000);
ASSERT VALUES paid_legacy (id, item, method, ROWTIME) VALUES (1, 'book', 'card', 5000);
ASSERT VALUES paid_legacy (id, item, method, ROWTIME) VALUES (2, 'lamp', 'cash', 105000);

--@test: stream-stream full join with an asymmetric window and GRACE closes each side at its own bound
CREATE STREAM alarms (id INT KEY, device STRING)
  WITH (kafka_topic='alarms', value_format='JSON', partitions=1);
CREATE STREAM acks (id INT KEY, operator STRING)
  WITH (kafka_topic='acks', value_format='JSON', partitions=1);
-- WITHIN (before 2 s, after 10 s), no grace: an alarm at t waits for acks
-- until t + 10 s, an ack at t for alarms until t + 2 s
CREATE STREAM alarm_audit AS
  SELECT ROWKEY AS id, a.device, k.operator
  FROM alarms a FULL OUTER JOIN acks k WITHIN (2 SECONDS, 10 SECONDS) GRACE PERIOD 0 SECONDS
  ON a.id = k.id;

INSERT INTO alarms (id, device, ROWTIME) VALUES (1, 'pump', 1000);
INSERT INTO acks (id, operator, ROWTIME) VALUES (2, 'joe', 1000);
-- 3500 > 1000 + 2 s releases ack 2, but alarm 1 is still waiting ...
INSERT INTO acks (id, operator, ROWTIME) VALUES (9, 'bob', 3500);
-- ... for its ack 8 s later (this also releases ack 9)
INSERT INTO acks (id, operator, ROWTIME) VALUES (1, 'eve', 9000);
-- the same seen from a held alarm: ack 5 is released at 21000 (> 15000 + 2 s)
-- while alarm 7 (until 22000) joins the ack that arrives then
INSERT INTO alarms (id, device, ROWTIME) VALUES (7, 'lamp', 12000);
INSERT INTO acks (id, operator, ROWTIME) VALUES (5, 'max', 15000);
INSERT INTO acks (id, operator, ROWTIME) VALUES (7, 'ann', 21000);

ASSERT VALUES alarm_audit (id, device, operator, ROWTIME) VALUES (2, NULL, 'joe', 1000);
ASSERT VALUES alarm_audit (id, device, operator, ROWTIME) VALUES (9, NULL, 'bob', 3500);
ASSERT VALUES alarm_audit (id, device, operator, ROWTIME) VALUES (1, 'pump', 'eve', 9000);
ASSERT VALUES alarm_audit (id, device, operator, ROWTIME) VALUES (5, NULL, 'max', 15000);
ASSERT VALUES alarm_audit (id, device, operator, ROWTIME) VALUES (7, 'lamp', 'ann', 21000);

--@test: table-table inner join on the primary key emits from both sides and a tombstone when a side goes
CREATE TABLE products (sku STRING PRIMARY KEY, name STRING)
  WITH (kafka_topic='products', value_format='JSON', partitions=1);
CREATE TABLE stock_levels (sku STRING PRIMARY KEY, qty INT)
  WITH (kafka_topic='stock_levels', value_format='JSON', partitions=1);
CREATE TABLE in_stock AS SELECT sku, qty FROM stock_levels WHERE qty > 0;
CREATE TABLE available AS
  SELECT p.sku AS sku, p.name, s.qty
  FROM products p JOIN in_stock s ON p.sku = s.sku;

-- no stock row yet: nothing
INSERT INTO products (sku, name, ROWTIME) VALUES ('p1', 'pen', 1000);
-- the right side emits
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p1', 5, 2000);
-- the left side emits
INSERT INTO products (sku, name, ROWTIME) VALUES ('p1', 'blue pen', 3000);
-- no product p2 yet: nothing
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p2', 7, 3500);
-- sold out: in_stock deletes p1, the join deletes its row
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p1', 0, 4000);
-- p1 has no stock row any more: nothing
INSERT INTO products (sku, name, ROWTIME) VALUES ('p1', 'red pen', 5000);
INSERT INTO products (sku, name, ROWTIME) VALUES ('p2', 'ink', 6000);

ASSERT VALUES available (sku, name, qty, ROWTIME) VALUES ('p1', 'pen', 5, 2000);
ASSERT VALUES available (sku, name, qty, ROWTIME) VALUES ('p1', 'blue pen', 5, 3000);
ASSERT NULL VALUES available (sku) KEY ('p1');
ASSERT VALUES available (sku, name, qty, ROWTIME) VALUES ('p2', 'ink', 7, 6000);

--@test: table-table left join keeps products without stock and turns a deleted stock row into nulls
CREATE TABLE products (sku STRING PRIMARY KEY, name STRING)
  WITH (kafka_topic='products', value_format='JSON', partitions=1);
CREATE TABLE stock_levels (sku STRING PRIMARY KEY, qty INT)
  WITH (kafka_topic='stock_levels', value_format='JSON', partitions=1);
CREATE TABLE in_stock AS SELECT sku, qty FROM stock_levels WHERE qty > 0;
CREATE TABLE catalog_view AS
  SELECT p.sku AS sku, p.name, s.qty
  FROM products p LEFT JOIN in_stock s ON p.sku = s.sku;

INSERT INTO products (sku, name, ROWTIME) VALUES ('p1', 'pen', 1000);
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p1', 5, 2000);
-- stock for a product nobody listed: the left row is absent, nothing
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p9', 4, 2500);
-- a right tombstone gives a null-padded row, not a tombstone
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p1', 0, 3000);
INSERT INTO products (sku, name, ROWTIME) VALUES ('p1', 'blue pen', 4000);

ASSERT VALUES catalog_view (sku, name, qty, ROWTIME) VALUES ('p1', 'pen', NULL, 1000);
ASSERT VALUES catalog_view (sku, name, qty, ROWTIME) VALUES ('p1', 'pen', 5, 2000);
ASSERT VALUES catalog_view (sku, name, qty, ROWTIME) VALUES ('p1', 'pen', NULL, 3000);
ASSERT VALUES catalog_view (sku, name, qty, ROWTIME) VALUES ('p1', 'blue pen', NULL, 4000);

--@test: table-table full join shows stock held in either warehouse and deletes a sku held in neither
CREATE TABLE north_levels (sku STRING PRIMARY KEY, qty INT)
  WITH (kafka_topic='north_levels', value_format='JSON', partitions=1);
CREATE TABLE south_levels (sku STRING PRIMARY KEY, qty INT)
  WITH (kafka_topic='south_levels', value_format='JSON', partitions=1);
CREATE TABLE north AS SELECT sku, qty FROM north_levels WHERE qty > 0;
CREATE TABLE south AS SELECT sku, qty FROM south_levels WHERE qty > 0;
CREATE TABLE stock_map AS
  SELECT ROWKEY AS sku, n.qty AS north_qty, s.qty AS south_qty
  FROM north n FULL OUTER JOIN south s ON n.sku = s.sku;

INSERT INTO north_levels (sku, qty, ROWTIME) VALUES ('a', 3, 1000);
INSERT INTO south_levels (sku, qty, ROWTIME) VALUES ('a', 4, 2000);
INSERT INTO south_levels (sku, qty, ROWTIME) VALUES ('b', 1, 3000);
-- north runs out of a: south still has it
INSERT INTO north_levels (sku, qty, ROWTIME) VALUES ('a', 0, 4000);
-- south runs out too: both sides absent, a tombstone
INSERT INTO south_levels (sku, qty, ROWTIME) VALUES ('a', 0, 5000);
INSERT INTO north_levels (sku, qty, ROWTIME) VALUES ('b', 2, 7000);

ASSERT VALUES stock_map (sku, north_qty, south_qty, ROWTIME) VALUES ('a', 3, NULL, 1000);
ASSERT VALUES stock_map (sku, north_qty, south_qty, ROWTIME) VALUES ('a', 3, 4, 2000);
ASSERT VALUES stock_map (sku, north_qty, south_qty, ROWTIME) VALUES ('b', NULL, 1, 3000);
ASSERT VALUES stock_map (sku, north_qty, south_qty, ROWTIME) VALUES ('a', NULL, 4, 4000);
ASSERT NULL VALUES stock_map (sku) KEY ('a');
ASSERT VALUES stock_map (sku, north_qty, south_qty, ROWTIME) VALUES ('b', 2, 1, 7000);

--@test: table-table right join keeps stock rows without a product, keyed by the join key
CREATE TABLE products (sku STRING PRIMARY KEY, name STRING)
  WITH (kafka_topic='products', value_format='JSON', partitions=1);
CREATE TABLE stock_levels (sku STRING PRIMARY KEY, qty INT)
  WITH (kafka_topic='stock_levels', value_format='JSON', partitions=1);
CREATE TABLE in_stock AS SELECT sku, qty FROM stock_levels WHERE qty > 0;
-- the key column is the product's sku, yet a stock-only row is keyed by its sku
CREATE TABLE stock_view AS
  SELECT p.sku AS sku, p.name, s.qty
  FROM products p RIGHT JOIN in_stock s ON p.sku = s.sku;

-- no stock row: nothing
INSERT INTO products (sku, name, ROWTIME) VALUES ('p1', 'pen', 1000);
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p1', 5, 2000);
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p2', 3, 2100);
INSERT INTO products (sku, name, ROWTIME) VALUES ('p2', 'ink', 3000);
-- the right row goes: a tombstone
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p1', 0, 4000);

ASSERT VALUES stock_view (sku, name, qty, ROWTIME) VALUES ('p1', 'pen', 5, 2000);
ASSERT VALUES stock_view (sku, name, qty, ROWTIME) VALUES ('p2', NULL, 3, 2100);
ASSERT VALUES stock_view (sku, name, qty, ROWTIME) VALUES ('p2', 'ink', 3, 3000);
ASSERT NULL VALUES stock_view (sku) KEY ('p1');

--@test: table-table left join deletes the row when the product goes, and repeats identical updates
CREATE TABLE product_list (sku STRING PRIMARY KEY, name STRING, listed BOOLEAN)
  WITH (kafka_topic='product_list', value_format='JSON', partitions=1);
CREATE TABLE products AS SELECT sku, name FROM product_list WHERE listed;
CREATE TABLE stock_levels (sku STRING PRIMARY KEY, qty INT)
  WITH (kafka_topic='stock_levels', value_format='JSON', partitions=1);
CREATE TABLE in_stock AS SELECT sku, qty FROM stock_levels WHERE qty > 0;
CREATE TABLE catalog_view AS
  SELECT p.sku AS sku, p.name, s.qty
  FROM products p LEFT JOIN in_stock s ON p.sku = s.sku;
CREATE TABLE available AS
  SELECT p.sku AS sku, p.name, s.qty
  FROM products p JOIN in_stock s ON p.sku = s.sku;

INSERT INTO product_list (sku, name, listed, ROWTIME) VALUES ('p1', 'pen', true, 1000);
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p1', 5, 2000);
-- the same level again: no de-duplication
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p1', 5, 2500);
-- delisted: the left row goes, both joins delete
INSERT INTO product_list (sku, name, listed, ROWTIME) VALUES ('p1', 'pen', false, 3000);
-- then the stock goes too: no product row, nothing from either join
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p1', 0, 4000);
INSERT INTO stock_levels (sku, qty, ROWTIME) VALUES ('p2', 3, 4100);
INSERT INTO product_list (sku, name, listed, ROWTIME) VALUES ('p2', 'ink', true, 5000);

ASSERT VALUES catalog_view (sku, name, qty, ROWTIME) VALUES ('p1', 'pen', NULL, 1000);
ASSERT VALUES catalog_view (sku, name, qty, ROWTIME) VALUES ('p1', 'pen', 5, 2000);
ASSERT VALUES catalog_view (sku, name, qty, ROWTIME) VALUES ('p1', 'pen', 5, 2500);
ASSERT NULL VALUES catalog_view (sku) KEY ('p1');
ASSERT VALUES catalog_view (sku, name, qty, ROWTIME) VALUES ('p2', 'ink', 3, 5000);
ASSERT VALUES available (sku, name, qty, ROWTIME) VALUES ('p1', 'pen', 5, 2000);
ASSERT VALUES available (sku, name, qty, ROWTIME) VALUES ('p1', 'pen', 5, 2500);
ASSERT NULL VALUES available (sku) KEY ('p1');
ASSERT VALUES available (sku, name, qty, ROWTIME) VALUES ('p2', 'ink', 3, 5000);

-- ---------------------------------------------------------------------
-- Foreign-key table-table joins (§1.4): ON l.fk = r.pk; keyed by the left
-- table's primary key; a right update re-emits every left row that
-- references it.
-- ---------------------------------------------------------------------

--@test: foreign-key inner join re-emits every employee of a renamed department
CREATE TABLE departments (id INT PRIMARY KEY, title STRING)
  WITH (kafka_topic='departments', value_format='JSON', partitions=1);
CREATE TABLE employees (emp_id INT PRIMARY KEY, name STRING, dept INT)
  WITH (kafka_topic='employees', value_format='JSON', partitions=1);
CREATE TABLE staff AS
  SELECT e.emp_id, e.name, d.title
  FROM employees e JOIN departments d ON e.dept = d.id;

INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'sales', 1000);
INSERT INTO departments (id, title, ROWTIME) VALUES (20, 'ops', 1100);
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (1, 'ann', 10, 2000);
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (2, 'bob', 10, 2100);
-- department 30 does not exist yet: a new employee emits nothing
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (3, 'cy', 30, 2200);
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (4, 'dan', 20, 2300);
-- one output per employee of department 10, at the department's time
INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'revenue', 3000);
-- dan moves to the missing department: his earlier row is deleted
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (4, 'dan', 30, 4000);
INSERT INTO departments (id, title, ROWTIME) VALUES (30, 'legal', 5000);
-- a department row newer than the employee: the later time wins
INSERT INTO departments (id, title, ROWTIME) VALUES (40, 'hr', 9000);
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (5, 'eve', 40, 6000);

ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (1, 'ann', 'sales', 2000);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (2, 'bob', 'sales', 2100);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (4, 'dan', 'ops', 2300);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (1, 'ann', 'revenue', 3000);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (2, 'bob', 'revenue', 3000);
ASSERT NULL VALUES staff (emp_id) KEY (4);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (3, 'cy', 'legal', 5000);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (4, 'dan', 'legal', 5000);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (5, 'eve', 'hr', 9000);

--@test: foreign-key left join keeps employees without a department and nulls them when it closes
CREATE TABLE dept_registry (id INT PRIMARY KEY, title STRING, active BOOLEAN)
  WITH (kafka_topic='dept_registry', value_format='JSON', partitions=1);
CREATE TABLE departments AS SELECT id, title FROM dept_registry WHERE active;
CREATE TABLE employees (emp_id INT PRIMARY KEY, name STRING, dept INT)
  WITH (kafka_topic='employees', value_format='JSON', partitions=1);
CREATE TABLE directory AS
  SELECT e.emp_id, e.name, d.title
  FROM employees e LEFT JOIN departments d ON e.dept = d.id;

INSERT INTO dept_registry (id, title, active, ROWTIME) VALUES (10, 'sales', true, 1000);
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (1, 'ann', 10, 2000);
-- no department at all (null foreign key): null-padded
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (2, 'bob', NULL, 2100);
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (3, 'cy', 10, 2200);
-- an unknown department: null-padded
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (4, 'dan', 99, 2300);
-- department 10 closes (a tombstone): both its employees lose the title
INSERT INTO dept_registry (id, title, active, ROWTIME) VALUES (10, 'sales', false, 3000);
-- department 99 opens: dan gets its title
INSERT INTO dept_registry (id, title, active, ROWTIME) VALUES (99, 'research', true, 4000);
-- an employee older than the department row takes the department's time
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (5, 'eve', 99, 3500);

ASSERT VALUES directory (emp_id, name, title, ROWTIME) VALUES (1, 'ann', 'sales', 2000);
ASSERT VALUES directory (emp_id, name, title, ROWTIME) VALUES (2, 'bob', NULL, 2100);
ASSERT VALUES directory (emp_id, name, title, ROWTIME) VALUES (3, 'cy', 'sales', 2200);
ASSERT VALUES directory (emp_id, name, title, ROWTIME) VALUES (4, 'dan', NULL, 2300);
ASSERT VALUES directory (emp_id, name, title, ROWTIME) VALUES (1, 'ann', NULL, 3000);
ASSERT VALUES directory (emp_id, name, title, ROWTIME) VALUES (3, 'cy', NULL, 3000);
ASSERT VALUES directory (emp_id, name, title, ROWTIME) VALUES (4, 'dan', 'research', 4000);
ASSERT VALUES directory (emp_id, name, title, ROWTIME) VALUES (5, 'eve', 'research', 4000);

--@test: foreign-key join deletes the row of an employee who leaves, and no longer re-emits it
CREATE TABLE departments (id INT PRIMARY KEY, title STRING)
  WITH (kafka_topic='departments', value_format='JSON', partitions=1);
CREATE TABLE staff_records (emp_id INT PRIMARY KEY, name STRING, dept INT, active BOOLEAN)
  WITH (kafka_topic='staff_records', value_format='JSON', partitions=1);
CREATE TABLE employees AS SELECT emp_id, name, dept FROM staff_records WHERE active;
CREATE TABLE staff AS
  SELECT e.emp_id, e.name, d.title
  FROM employees e JOIN departments d ON e.dept = d.id;

INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'sales', 1000);
INSERT INTO staff_records (emp_id, name, dept, active, ROWTIME) VALUES (1, 'ann', 10, true, 2000);
INSERT INTO staff_records (emp_id, name, dept, active, ROWTIME) VALUES (2, 'bob', 10, true, 2100);
-- ann leaves: a left tombstone deletes her joined row
INSERT INTO staff_records (emp_id, name, dept, active, ROWTIME) VALUES (1, 'ann', 10, false, 3000);
-- only bob still references department 10
INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'revenue', 4000);

ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (1, 'ann', 'sales', 2000);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (2, 'bob', 'sales', 2100);
ASSERT NULL VALUES staff (emp_id) KEY (1);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (2, 'bob', 'revenue', 4000);

--@test: foreign-key inner join skips a null foreign key and deletes a leaver's row even if it never joined
CREATE TABLE departments (id INT PRIMARY KEY, title STRING)
  WITH (kafka_topic='departments', value_format='JSON', partitions=1);
CREATE TABLE staff_records (emp_id INT PRIMARY KEY, name STRING, dept INT, active BOOLEAN)
  WITH (kafka_topic='staff_records', value_format='JSON', partitions=1);
CREATE TABLE employees AS SELECT emp_id, name, dept FROM staff_records WHERE active;
CREATE TABLE staff AS
  SELECT e.emp_id, e.name, d.title
  FROM employees e JOIN departments d ON e.dept = d.id;

INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'sales', 1000);
-- no department: skipped
INSERT INTO staff_records (emp_id, name, dept, active, ROWTIME) VALUES (2, 'bob', NULL, true, 2000);
-- unknown department: nothing yet
INSERT INTO staff_records (emp_id, name, dept, active, ROWTIME) VALUES (3, 'cy', 99, true, 2100);
INSERT INTO staff_records (emp_id, name, dept, active, ROWTIME) VALUES (4, 'dan', 10, true, 2200);
-- cy leaves: the inner join still writes a tombstone for her key
INSERT INTO staff_records (emp_id, name, dept, active, ROWTIME) VALUES (3, 'cy', 99, false, 3000);

ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (4, 'dan', 'sales', 2200);
ASSERT NULL VALUES staff (emp_id) KEY (3);

--@test: foreign-key left join moving an employee to another department emits only the new row
CREATE TABLE departments (id INT PRIMARY KEY, title STRING)
  WITH (kafka_topic='departments', value_format='JSON', partitions=1);
CREATE TABLE employees (emp_id INT PRIMARY KEY, name STRING, dept INT)
  WITH (kafka_topic='employees', value_format='JSON', partitions=1);
CREATE TABLE directory AS
  SELECT e.emp_id, e.name, d.title
  FROM employees e LEFT JOIN departments d ON e.dept = d.id;

INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'sales', 1000);
INSERT INTO departments (id, title, ROWTIME) VALUES (20, 'ops', 1100);
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (1, 'ann', 10, 2000);
-- the old department's subscription is dropped silently (Kafka Streams
-- DELETE_KEY_NO_PROPAGATE); only the new department answers
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (1, 'ann', 20, 3000);
-- ann no longer follows department 10
INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'revenue', 4000);

ASSERT VALUES directory (emp_id, name, title, ROWTIME) VALUES (1, 'ann', 'sales', 2000);
ASSERT VALUES directory (emp_id, name, title, ROWTIME) VALUES (1, 'ann', 'ops', 3000);

-- ---------------------------------------------------------------------
-- N-way joins (§1.5): left-deep, in written order.
-- ---------------------------------------------------------------------

--@test: n-way stream-table-table join enriches clicks with the user and, if any, their settings
CREATE STREAM page_views (user_id INT KEY, url STRING)
  WITH (kafka_topic='page_views', value_format='JSON', partitions=1);
CREATE TABLE users (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='users', value_format='JSON', partitions=1);
CREATE TABLE prefs (id INT PRIMARY KEY, theme STRING)
  WITH (kafka_topic='prefs', value_format='JSON', partitions=1);
CREATE STREAM views_enriched AS
  SELECT v.user_id, v.url, u.name, p.theme
  FROM page_views v
  JOIN users u ON v.user_id = u.id
  LEFT JOIN prefs p ON v.user_id = p.id;

INSERT INTO users (id, name, ROWTIME) VALUES (1, 'ann', 100);
INSERT INTO users (id, name, ROWTIME) VALUES (2, 'bob', 150);
INSERT INTO prefs (id, theme, ROWTIME) VALUES (1, 'dark', 200);
INSERT INTO page_views (user_id, url, ROWTIME) VALUES (1, '/home', 1000);
-- no user 3: the inner step drops the view
INSERT INTO page_views (user_id, url, ROWTIME) VALUES (3, '/x', 1100);
-- bob has no settings: the left step pads them with null
INSERT INTO page_views (user_id, url, ROWTIME) VALUES (2, '/cart', 1200);
INSERT INTO prefs (id, theme, ROWTIME) VALUES (1, 'light', 1300);
INSERT INTO page_views (user_id, url, ROWTIME) VALUES (1, '/pay', 1400);

ASSERT VALUES views_enriched (user_id, url, name, theme, ROWTIME) VALUES (1, '/home', 'ann', 'dark', 1000);
ASSERT VALUES views_enriched (user_id, url, name, theme, ROWTIME) VALUES (2, '/cart', 'bob', NULL, 1200);
ASSERT VALUES views_enriched (user_id, url, name, theme, ROWTIME) VALUES (1, '/pay', 'ann', 'light', 1400);

--@test: n-way join re-keys the order stream twice, by customer then by product
CREATE STREAM orders (order_id INT KEY, customer_id INT, sku STRING, qty INT)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
CREATE TABLE products (sku STRING PRIMARY KEY, price DOUBLE)
  WITH (kafka_topic='products', value_format='JSON', partitions=1);
-- the result is keyed by the last join's key
CREATE STREAM order_lines AS
  SELECT p.sku AS sku, o.order_id, c.name, o.qty * p.price AS total
  FROM orders o
  JOIN customers c ON o.customer_id = c.id
  JOIN products p ON o.sku = p.sku;

INSERT INTO customers (id, name, ROWTIME) VALUES (7, 'ann', 100);
INSERT INTO customers (id, name, ROWTIME) VALUES (8, 'bob', 110);
INSERT INTO products (sku, price, ROWTIME) VALUES ('tea', 2.5, 200);
INSERT INTO products (sku, price, ROWTIME) VALUES ('mug', 8.0, 210);
INSERT INTO orders (order_id, customer_id, sku, qty, ROWTIME) VALUES (1, 7, 'tea', 4, 1000);
INSERT INTO orders (order_id, customer_id, sku, qty, ROWTIME) VALUES (2, 8, 'mug', 1, 1100);
-- unknown customer
INSERT INTO orders (order_id, customer_id, sku, qty, ROWTIME) VALUES (3, 9, 'tea', 1, 1200);
-- unknown product
INSERT INTO orders (order_id, customer_id, sku, qty, ROWTIME) VALUES (4, 7, 'cake', 1, 1300);

ASSERT VALUES order_lines (sku, order_id, name, total, ROWTIME) VALUES ('tea', 1, 'ann', 10.0, 1000);
ASSERT VALUES order_lines (sku, order_id, name, total, ROWTIME) VALUES ('mug', 2, 'bob', 8.0, 1100);

--@test: n-way join may start with a foreign-key join, then join on the left table's key
CREATE TABLE departments (id INT PRIMARY KEY, title STRING)
  WITH (kafka_topic='departments', value_format='JSON', partitions=1);
CREATE TABLE employees (emp_id INT PRIMARY KEY, name STRING, dept INT)
  WITH (kafka_topic='employees', value_format='JSON', partitions=1);
CREATE TABLE badges (holder INT PRIMARY KEY, badge STRING)
  WITH (kafka_topic='badges', value_format='JSON', partitions=1);
CREATE TABLE badge_directory AS
  SELECT e.emp_id, e.name, d.title, b.badge
  FROM employees e
  JOIN departments d ON e.dept = d.id
  JOIN badges b ON e.emp_id = b.holder;

INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'sales', 100);
INSERT INTO badges (holder, badge, ROWTIME) VALUES (1, 'B-1', 200);
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (1, 'ann', 10, 1000);
INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'revenue', 2000);
INSERT INTO badges (holder, badge, ROWTIME) VALUES (1, 'B-9', 3000);

ASSERT VALUES badge_directory (emp_id, name, title, badge, ROWTIME) VALUES (1, 'ann', 'sales', 'B-1', 1000);
ASSERT VALUES badge_directory (emp_id, name, title, badge, ROWTIME) VALUES (1, 'ann', 'revenue', 'B-1', 2000);
ASSERT VALUES badge_directory (emp_id, name, title, badge, ROWTIME) VALUES (1, 'ann', 'revenue', 'B-9', 3000);

--@test: n-way join whose second condition uses a column of the first table re-keys by that column
CREATE STREAM orders (order_id INT KEY, customer_id INT, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING, region STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
CREATE TABLE regions (code STRING PRIMARY KEY, tax_rate DOUBLE)
  WITH (kafka_topic='regions', value_format='JSON', partitions=1);
CREATE STREAM taxed AS
  SELECT r.code AS region, o.order_id, c.name, o.amount * (1 + r.tax_rate) AS gross
  FROM orders o
  JOIN customers c ON o.customer_id = c.id
  JOIN regions r ON c.region = r.code;

INSERT INTO regions (code, tax_rate, ROWTIME) VALUES ('eu', 0.2, 10);
INSERT INTO regions (code, tax_rate, ROWTIME) VALUES ('us', 0.1, 20);
INSERT INTO customers (id, name, region, ROWTIME) VALUES (7, 'ann', 'eu', 100);
INSERT INTO customers (id, name, region, ROWTIME) VALUES (8, 'bob', 'us', 110);
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (1, 7, 10.0, 1000);
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (2, 8, 20.0, 1100);
-- ann moves to the us
INSERT INTO customers (id, name, region, ROWTIME) VALUES (7, 'ann', 'us', 1200);
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (3, 7, 10.0, 1300);

ASSERT VALUES taxed (region, order_id, name, gross, ROWTIME) VALUES ('eu', 1, 'ann', 12.0, 1000);
ASSERT VALUES taxed (region, order_id, name, gross, ROWTIME) VALUES ('us', 2, 'bob', 22.0, 1100);
ASSERT VALUES taxed (region, order_id, name, gross, ROWTIME) VALUES ('us', 3, 'ann', 11.0, 1300);

--@test: n-way table-table-table join with a full outer last step is keyed by a synthetic ROWKEY
CREATE TABLE accounts (id INT PRIMARY KEY, owner STRING)
  WITH (kafka_topic='accounts', value_format='JSON', partitions=1);
CREATE TABLE balances (id INT PRIMARY KEY, amount DOUBLE)
  WITH (kafka_topic='balances', value_format='JSON', partitions=1);
CREATE TABLE flags (id INT PRIMARY KEY, flag STRING)
  WITH (kafka_topic='flags', value_format='JSON', partitions=1);
CREATE TABLE account_flags AS
  SELECT ROWKEY AS id, a.owner, b.amount, f.flag
  FROM accounts a
  JOIN balances b ON a.id = b.id
  FULL OUTER JOIN flags f ON a.id = f.id;

-- no balance yet: the inner step has no row, the full step nothing to pair
INSERT INTO accounts (id, owner, ROWTIME) VALUES (1, 'ann', 100);
INSERT INTO flags (id, flag, ROWTIME) VALUES (1, 'vip', 200);
INSERT INTO balances (id, amount, ROWTIME) VALUES (1, 50.0, 300);
INSERT INTO flags (id, flag, ROWTIME) VALUES (2, 'new', 400);
INSERT INTO accounts (id, owner, ROWTIME) VALUES (1, 'ann b', 500);

ASSERT VALUES account_flags (id, owner, amount, flag, ROWTIME) VALUES (1, NULL, NULL, 'vip', 200);
ASSERT VALUES account_flags (id, owner, amount, flag, ROWTIME) VALUES (1, 'ann', 50.0, 'vip', 300);
ASSERT VALUES account_flags (id, owner, amount, flag, ROWTIME) VALUES (2, NULL, NULL, 'new', 400);
ASSERT VALUES account_flags (id, owner, amount, flag, ROWTIME) VALUES (1, 'ann b', 50.0, 'vip', 500);

--@test: n-way stream-stream-stream left joins pass null-padded rows on to the next step
CREATE STREAM temps (station STRING KEY, celsius DOUBLE)
  WITH (kafka_topic='temps', value_format='JSON', partitions=1);
CREATE STREAM humidity (station STRING KEY, pct INT)
  WITH (kafka_topic='humidity', value_format='JSON', partitions=1);
CREATE STREAM wind (station STRING KEY, kmh INT)
  WITH (kafka_topic='wind', value_format='JSON', partitions=1);
CREATE STREAM weather AS
  SELECT t.station AS station, t.celsius, h.pct, w.kmh
  FROM temps t
  LEFT JOIN humidity h WITHIN 5 SECONDS ON t.station = h.station
  LEFT JOIN wind w WITHIN 10 SECONDS ON t.station = w.station;

INSERT INTO temps (station, celsius, ROWTIME) VALUES ('s1', 20.0, 0);
INSERT INTO humidity (station, pct, ROWTIME) VALUES ('s1', 60, 1000);
-- the wind reading meets both rows the first step wrote
INSERT INTO wind (station, kmh, ROWTIME) VALUES ('s1', 15, 2000);
INSERT INTO temps (station, celsius, ROWTIME) VALUES ('s1', 21.0, 3000);

ASSERT VALUES weather (station, celsius, pct, kmh, ROWTIME) VALUES ('s1', 20.0, NULL, NULL, 0);
ASSERT VALUES weather (station, celsius, pct, kmh, ROWTIME) VALUES ('s1', 20.0, 60, NULL, 1000);
ASSERT VALUES weather (station, celsius, pct, kmh, ROWTIME) VALUES ('s1', 20.0, NULL, 15, 2000);
ASSERT VALUES weather (station, celsius, pct, kmh, ROWTIME) VALUES ('s1', 20.0, 60, 15, 2000);
ASSERT VALUES weather (station, celsius, pct, kmh, ROWTIME) VALUES ('s1', 21.0, 60, 15, 3000);

-- ---------------------------------------------------------------------
-- Joins feeding aggregations (§1.6) and tables built from joins.
-- ---------------------------------------------------------------------

--@test: a join feeds GROUP BY in the same query: revenue per customer tier
CREATE STREAM orders (order_id INT KEY, customer_id INT, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, tier STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
CREATE TABLE revenue_by_tier AS
  SELECT c.tier, COUNT(*) AS n, SUM(o.amount) AS revenue
  FROM orders o JOIN customers c ON o.customer_id = c.id
  GROUP BY c.tier;

INSERT INTO customers (id, tier, ROWTIME) VALUES (1, 'gold', 100);
INSERT INTO customers (id, tier, ROWTIME) VALUES (2, 'silver', 110);
INSERT INTO customers (id, tier, ROWTIME) VALUES (3, 'gold', 120);
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (1, 1, 10.0, 1000);
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (2, 2, 5.0, 2000);
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (3, 3, 2.5, 3000);
-- unknown customer: not joined, not counted
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (4, 9, 1.0, 4000);

ASSERT VALUES revenue_by_tier (tier, n, revenue, ROWTIME) VALUES ('gold', 1, 10.0, 1000);
ASSERT VALUES revenue_by_tier (tier, n, revenue, ROWTIME) VALUES ('silver', 1, 5.0, 2000);
ASSERT VALUES revenue_by_tier (tier, n, revenue, ROWTIME) VALUES ('gold', 2, 12.5, 3000);

--@test: a stream-stream join feeds a tumbling window that takes the joined row's later timestamp
CREATE STREAM impressions (ad_id STRING KEY, campaign STRING)
  WITH (kafka_topic='impressions', value_format='JSON', partitions=1);
CREATE STREAM clicks (ad_id STRING KEY, device STRING)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
CREATE TABLE campaign_clicks AS
  SELECT i.campaign, COUNT(*) AS n
  FROM impressions i JOIN clicks c WITHIN 1 MINUTE ON i.ad_id = c.ad_id
  WINDOW TUMBLING (SIZE 10 SECONDS)
  GROUP BY i.campaign;

-- joined at 12000 (the click's time): window [10000, 20000), not [0, 10000)
INSERT INTO impressions (ad_id, campaign, ROWTIME) VALUES ('a', 'spring', 8000);
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('a', 'phone', 12000);
INSERT INTO impressions (ad_id, campaign, ROWTIME) VALUES ('b', 'spring', 21000);
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('b', 'tablet', 23000);
-- the click came first: joined at the impression's 25000
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('c', 'phone', 24000);
INSERT INTO impressions (ad_id, campaign, ROWTIME) VALUES ('c', 'summer', 25000);

ASSERT VALUES campaign_clicks (campaign, n, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('spring', 1, 10000, 20000, 12000);
ASSERT VALUES campaign_clicks (campaign, n, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('spring', 1, 20000, 30000, 23000);
ASSERT VALUES campaign_clicks (campaign, n, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('summer', 1, 20000, 30000, 25000);

--@test: a stream-stream join feeds an EMIT FINAL window that closes on the joined rows' time
CREATE STREAM impressions (ad_id STRING KEY, campaign STRING)
  WITH (kafka_topic='impressions', value_format='JSON', partitions=1);
CREATE STREAM clicks (ad_id STRING KEY, device STRING)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
CREATE TABLE campaign_final AS
  SELECT i.campaign, COUNT(*) AS n
  FROM impressions i JOIN clicks c WITHIN 1 MINUTE ON i.ad_id = c.ad_id
  WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 0 SECONDS)
  GROUP BY i.campaign EMIT FINAL;

INSERT INTO impressions (ad_id, campaign, ROWTIME) VALUES ('a', 'spring', 1000);
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('a', 'phone', 2000);
INSERT INTO impressions (ad_id, campaign, ROWTIME) VALUES ('b', 'spring', 3000);
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('b', 'tablet', 4000);
-- an impression nobody clicked does not reach the aggregation: its time
-- does not close the window, so a later click on b still counts in it
INSERT INTO impressions (ad_id, campaign, ROWTIME) VALUES ('x', 'spring', 11000);
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('b', 'laptop', 9000);
INSERT INTO clicks (ad_id, device, ROWTIME) VALUES ('c', 'phone', 11500);
-- the joined row at 12500 closes [0, 10000)
INSERT INTO impressions (ad_id, campaign, ROWTIME) VALUES ('c', 'spring', 12500);

ASSERT VALUES campaign_final (campaign, n, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('spring', 3, 0, 10000, 9000);

--@test: a table built by a join is a table like any other: a filter over it deletes rows that stop passing
CREATE TABLE accounts (id INT PRIMARY KEY, owner STRING)
  WITH (kafka_topic='accounts', value_format='JSON', partitions=1);
CREATE TABLE balances (id INT PRIMARY KEY, amount DOUBLE)
  WITH (kafka_topic='balances', value_format='JSON', partitions=1);
CREATE TABLE account_view AS
  SELECT a.id AS id, a.owner, b.amount
  FROM accounts a JOIN balances b ON a.id = b.id;
CREATE TABLE overdrawn AS SELECT id, owner, amount FROM account_view WHERE amount < 0;

INSERT INTO accounts (id, owner, ROWTIME) VALUES (1, 'ann', 100);
INSERT INTO accounts (id, owner, ROWTIME) VALUES (2, 'bob', 110);
INSERT INTO balances (id, amount, ROWTIME) VALUES (1, 50.0, 200);
INSERT INTO balances (id, amount, ROWTIME) VALUES (2, -5.0, 210);
INSERT INTO balances (id, amount, ROWTIME) VALUES (1, -20.0, 300);
INSERT INTO balances (id, amount, ROWTIME) VALUES (2, 10.0, 400);

ASSERT VALUES account_view (id, owner, amount, ROWTIME) VALUES (1, 'ann', 50.0, 200);
ASSERT VALUES account_view (id, owner, amount, ROWTIME) VALUES (2, 'bob', -5.0, 210);
ASSERT VALUES account_view (id, owner, amount, ROWTIME) VALUES (1, 'ann', -20.0, 300);
ASSERT VALUES account_view (id, owner, amount, ROWTIME) VALUES (2, 'bob', 10.0, 400);
ASSERT VALUES overdrawn (id, owner, amount, ROWTIME) VALUES (2, 'bob', -5.0, 210);
ASSERT VALUES overdrawn (id, owner, amount, ROWTIME) VALUES (1, 'ann', -20.0, 300);
ASSERT NULL VALUES overdrawn (id) KEY (2);

-- ---------------------------------------------------------------------
-- Several partitions (§2.4): a re-keyed side is repartitioned so that
-- records meet the other side's rows wherever the keys hash. With the
-- Kafka partitioner over two partitions, INT keys 1, 5, 8 go to
-- partition 0 and 2, 6, 7 to partition 1.
-- ---------------------------------------------------------------------

--@test: stream-table join over two partitions repartitions the re-keyed orders to their customer's partition
CREATE STREAM orders (order_id INT KEY, customer_id INT, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=2);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=2);
CREATE STREAM by_customer AS
  SELECT o.customer_id, o.order_id, c.name
  FROM orders o JOIN customers c ON o.customer_id = c.id;

INSERT INTO customers (id, name, ROWTIME) VALUES (7, 'ann', 100);
INSERT INTO customers (id, name, ROWTIME) VALUES (8, 'bob', 110);
-- order 1 is in partition 0, customer 7 in partition 1
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (1, 7, 1.0, 1000);
-- (other customers signing up between the orders keep the output order fixed)
INSERT INTO customers (id, name, ROWTIME) VALUES (20, 'cy', 1050);
-- order 2 is in partition 1, customer 8 in partition 0
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (2, 8, 2.0, 1100);
INSERT INTO customers (id, name, ROWTIME) VALUES (21, 'dan', 1150);
INSERT INTO orders (order_id, customer_id, amount, ROWTIME) VALUES (6, 7, 3.0, 1200);

ASSERT VALUES by_customer (customer_id, order_id, name, ROWTIME) VALUES (7, 1, 'ann', 1000);
ASSERT VALUES by_customer (customer_id, order_id, name, ROWTIME) VALUES (8, 2, 'bob', 1100);
ASSERT VALUES by_customer (customer_id, order_id, name, ROWTIME) VALUES (7, 6, 'ann', 1200);

--@test: stream-stream join over two partitions re-keys both sides by a value column
CREATE STREAM orders (order_id INT KEY, customer_id INT, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=2);
CREATE STREAM support_calls (call_id INT KEY, customer_id INT, topic STRING)
  WITH (kafka_topic='support_calls', value_format='JSON', partitions=2);
CREATE STREAM calls_after_orders AS
  SELECT o.customer_id AS customer_id, o.item, s.topic
  FROM orders o JOIN support_calls s WITHIN 1 HOUR ON o.customer_id = s.customer_id;

-- order 1 (partition 0) and call 2 (partition 1), both for customer 7
INSERT INTO orders (order_id, customer_id, item, ROWTIME) VALUES (1, 7, 'router', 1000);
INSERT INTO support_calls (call_id, customer_id, topic, ROWTIME) VALUES (2, 7, 'setup', 2000);
-- order 6 (partition 1) and call 5 (partition 0), both for customer 8
INSERT INTO orders (order_id, customer_id, item, ROWTIME) VALUES (6, 8, 'modem', 3000);
INSERT INTO support_calls (call_id, customer_id, topic, ROWTIME) VALUES (5, 8, 'billing', 4000);

ASSERT VALUES calls_after_orders (customer_id, item, topic, ROWTIME) VALUES (7, 'router', 'setup', 2000);
ASSERT VALUES calls_after_orders (customer_id, item, topic, ROWTIME) VALUES (8, 'modem', 'billing', 4000);

--@test: foreign-key join works across tables with different partition counts
CREATE TABLE employees (emp_id INT PRIMARY KEY, name STRING, dept INT)
  WITH (kafka_topic='employees', value_format='JSON', partitions=2);
CREATE TABLE departments (id INT PRIMARY KEY, title STRING)
  WITH (kafka_topic='departments', value_format='JSON', partitions=1);
CREATE TABLE staff AS
  SELECT e.emp_id, e.name, d.title
  FROM employees e JOIN departments d ON e.dept = d.id;

INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'sales', 100);
INSERT INTO departments (id, title, ROWTIME) VALUES (20, 'ops', 110);
-- employee 1 is in partition 0, employee 2 in partition 1
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (1, 'ann', 10, 1000);
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (2, 'bob', 20, 1100);
INSERT INTO departments (id, title, ROWTIME) VALUES (10, 'revenue', 2000);
-- (a hire into a missing department, which emits nothing, keeps the
-- output order of the two renames fixed)
INSERT INTO employees (emp_id, name, dept, ROWTIME) VALUES (5, 'eve', 99, 2050);
INSERT INTO departments (id, title, ROWTIME) VALUES (20, 'operations', 2100);

ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (1, 'ann', 'sales', 1000);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (2, 'bob', 'ops', 1100);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (1, 'ann', 'revenue', 2000);
ASSERT VALUES staff (emp_id, name, title, ROWTIME) VALUES (2, 'bob', 'operations', 2100);

-- ---------------------------------------------------------------------
-- Rejected joins (§2), with ksqlDB's texts.
-- ---------------------------------------------------------------------

--@test: a table cannot be joined to a stream (inner)
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid join order: table-stream joins are not supported; only stream-table joins. Got CUSTOMERS [INNER] JOIN ORDERS.
CREATE STREAM enriched AS
  SELECT customers.id, name, amount FROM customers JOIN orders ON customers.id = orders.customer_id;

--@test: a table cannot be left-joined to a stream
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid join order: table-stream joins are not supported; only stream-table joins. Got CUSTOMERS LEFT [OUTER] JOIN ORDERS.
CREATE TABLE enriched AS
  SELECT customers.id, name, amount FROM customers LEFT JOIN orders ON customers.id = orders.customer_id;

--@test: a stream-table join cannot be a full outer join
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid join type: full-outer join not supported for stream-table join. Got ORDERS [FULL] OUTER JOIN CUSTOMERS.
CREATE STREAM enriched AS
  SELECT ROWKEY AS id, name, amount FROM orders FULL OUTER JOIN customers ON orders.customer_id = customers.id;

--@test: a stream-stream join needs WITHIN
CREATE STREAM impressions (ad_id STRING KEY, placement STRING)
  WITH (kafka_topic='impressions', value_format='JSON', partitions=1);
CREATE STREAM clicks (ad_id STRING KEY, device STRING)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Stream-Stream joins must have a WITHIN clause specified. None was provided.
CREATE STREAM clicked AS
  SELECT i.ad_id AS ad_id, placement, device FROM impressions i JOIN clicks c ON i.ad_id = c.ad_id;

--@test: a stream-table join takes no WITHIN
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: A window definition was provided for a Stream-Table join. These joins are not windowed. Please drop the window definition (ie. the WITHIN clause) and try to execute your join again.
CREATE STREAM enriched AS
  SELECT o.customer_id, name, amount FROM orders o JOIN customers c WITHIN 1 MINUTE ON o.customer_id = c.id;

--@test: a table-table join takes no WITHIN
CREATE TABLE accounts (id INT PRIMARY KEY, owner STRING)
  WITH (kafka_topic='accounts', value_format='JSON', partitions=1);
CREATE TABLE balances (id INT PRIMARY KEY, amount DOUBLE)
  WITH (kafka_topic='balances', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: A window definition was provided for a Table-Table join. These joins are not windowed. Please drop the window definition (i.e. the WITHIN clause) and try to execute your Table-Table join again.
CREATE TABLE account_view AS
  SELECT a.id AS id, owner, amount FROM accounts a JOIN balances b WITHIN 1 MINUTE ON a.id = b.id;

--@test: a stream-table join must use the table's primary key
CREATE STREAM signups (email STRING KEY, source STRING)
  WITH (kafka_topic='signups', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, email STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid join condition: stream-table joins require to join on the table's primary key. Got SIGNUPS.EMAIL = CUSTOMERS.EMAIL.
CREATE STREAM matched AS
  SELECT signups.email, source, id FROM signups JOIN customers ON signups.email = customers.email;

--@test: a table-table join must use the right table's primary key
CREATE TABLE customers (id INT PRIMARY KEY, email STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
CREATE TABLE newsletter (address STRING PRIMARY KEY, customer INT)
  WITH (kafka_topic='newsletter', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid join condition: table-table joins require to join on the primary key of the right input table. Got C.ID = N.CUSTOMER.
CREATE TABLE subscribed AS
  SELECT c.id, email, address FROM customers c JOIN newsletter n ON c.id = n.customer;

--@test: beyond ksqlDB, a stream-stream join on two conditions matches only when both hold
-- ksqlDB allows one equality; sluice joins on several, re-keying both
-- streams by the pair (id, region): the result is keyed by both columns.
CREATE STREAM orders (id INT KEY, region STRING, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, region STRING, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
CREATE STREAM paid WITH (key_format='JSON') AS
  SELECT o.id AS id, o.region AS region, item, method FROM orders o JOIN payments p WITHIN 1 HOUR
  ON o.id = p.id AND o.region = p.region;

INSERT INTO orders (id, region, item, ROWTIME) VALUES (1, 'eu', 'book', 1000);
INSERT INTO payments (id, region, method, ROWTIME) VALUES (1, 'us', 'card', 2000);
INSERT INTO payments (id, region, method, ROWTIME) VALUES (1, 'eu', 'cash', 3000);
INSERT INTO payments (id, region, method, ROWTIME) VALUES (2, 'eu', 'card', 4000);

ASSERT VALUES paid (id, region, item, method, ROWTIME) VALUES (1, 'eu', 'book', 'cash', 3000);

--@test: beyond ksqlDB, a stream joins a table on its whole two-column primary key
CREATE TABLE rates (currency STRING PRIMARY KEY, day STRING PRIMARY KEY, rate DOUBLE)
  WITH (kafka_topic='rates', key_format='JSON', value_format='JSON', partitions=1);
CREATE STREAM trades (id INT KEY, currency STRING, day STRING, amount DOUBLE)
  WITH (kafka_topic='trades', value_format='JSON', partitions=1);
CREATE STREAM converted WITH (key_format='JSON') AS
  SELECT r.currency AS currency, r.day AS day, t.id, amount * rate AS eur
  FROM trades t JOIN rates r ON t.day = r.day AND t.currency = r.currency;

INSERT INTO rates (currency, day, rate, ROWTIME) VALUES ('usd', 'mon', 0.5, 10);
INSERT INTO rates (currency, day, rate, ROWTIME) VALUES ('usd', 'tue', 0.25, 20);
INSERT INTO trades (id, currency, day, amount, ROWTIME) VALUES (7, 'usd', 'tue', 8.0, 100);
INSERT INTO trades (id, currency, day, amount, ROWTIME) VALUES (8, 'gbp', 'tue', 8.0, 200);

ASSERT VALUES converted (currency, day, id, eur, ROWTIME) VALUES ('usd', 'tue', 7, 2.0, 100);

--@test: a join on several conditions needs a column in each, and is not FULL OUTER
CREATE STREAM orders (id INT KEY, region STRING, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, region STRING, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: A join on several conditions needs a column on one side of each condition
CREATE STREAM paid AS
  SELECT ROWKEY, item, method FROM orders o FULL OUTER JOIN payments p WITHIN 1 HOUR
  ON o.id = p.id AND o.region = p.region;

--@test: a join condition must be an equality
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Only equality join criteria is supported.
CREATE STREAM paid AS
  SELECT o.id AS id, item, method FROM orders o JOIN payments p WITHIN 1 HOUR ON o.id > p.id;

--@test: the two sides of a table-table join must have the same key type
CREATE TABLE prices (sku INT PRIMARY KEY, price DOUBLE)
  WITH (kafka_topic='prices', value_format='JSON', partitions=1);
CREATE TABLE stock (sku BIGINT PRIMARY KEY, qty INT)
  WITH (kafka_topic='stock', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid join condition: types don't match. Got PRICES.SKU{INTEGER} = STOCK.SKU{BIGINT}.
CREATE TABLE priced_stock AS
  SELECT prices.sku, price, qty FROM prices JOIN stock ON prices.sku = stock.sku;

--@test: the projection must include a join column, which becomes the key
CREATE STREAM impressions (ad_id STRING KEY, placement STRING)
  WITH (kafka_topic='impressions', value_format='JSON', partitions=1);
CREATE STREAM clicks (ad_id STRING KEY, device STRING)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: The query used to build `CLICKED` must include the join expressions IMPRESSIONS.AD_ID or CLICKS.AD_ID in its projection (eg, SELECT IMPRESSIONS.AD_ID...).
CREATE STREAM clicked AS
  SELECT placement, device FROM impressions JOIN clicks WITHIN 10 SECONDS
  ON impressions.ad_id = clicks.ad_id;

--@test: a full join must select its synthetic ROWKEY
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: The query used to build `RECONCILIATION` must include the join expression ROWKEY in its projection (eg, SELECT ROWKEY...).
CREATE STREAM reconciliation AS
  SELECT o.id AS order_id, item, method FROM orders o FULL OUTER JOIN payments p WITHIN 1 MINUTE
  ON o.id = p.id;

--@test: the join key cannot be selected twice
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: The projection contains a key column (`O_ID`) more than once, aliased as: ORDER_ID and REF.
CREATE STREAM paid AS
  SELECT o.id AS order_id, o.id AS ref, item, method FROM orders o JOIN payments p WITHIN 1 MINUTE
  ON o.id = p.id;

--@test: an unqualified column in ON that both sources have is ambiguous
CREATE TABLE accounts (id INT PRIMARY KEY, owner STRING)
  WITH (kafka_topic='accounts', value_format='JSON', partitions=1);
CREATE TABLE balances (id INT PRIMARY KEY, amount DOUBLE)
  WITH (kafka_topic='balances', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Column 'ID' is ambiguous. Could be ACCOUNTS.ID or BALANCES.ID.
CREATE TABLE account_view AS
  SELECT accounts.id, owner, amount FROM accounts JOIN balances ON id = id;

--@test: an unqualified selected column that both sources have is ambiguous
CREATE STREAM impressions (ad_id STRING KEY, device STRING)
  WITH (kafka_topic='impressions', value_format='JSON', partitions=1);
CREATE STREAM clicks (ad_id STRING KEY, device STRING)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Column 'DEVICE' is ambiguous. Could be I.DEVICE or C.DEVICE.
CREATE STREAM clicked AS
  SELECT i.ad_id AS ad_id, device FROM impressions i JOIN clicks c WITHIN 10 SECONDS
  ON i.ad_id = c.ad_id;

--@test: a qualifier that names no source of the join is rejected
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: 'CUST' is not a valid stream/table name or alias.
CREATE STREAM enriched AS
  SELECT o.customer_id, name, amount FROM orders o JOIN customers c ON o.customer_id = cust.id;

--@test: an unknown column in ON is named
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: JOIN ON column 'O.CUSTOMERID' cannot be resolved.
CREATE STREAM enriched AS
  SELECT o.customer_id, name, amount FROM orders o JOIN customers c ON o.customerid = c.id;

--@test: each side of ON must reference a source
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid comparison expression '7' in join '(O.CUSTOMER_ID = 7)'. Each side of the join comparision must contain references from exactly one source.
CREATE STREAM enriched AS
  SELECT o.customer_id, name, amount FROM orders o JOIN customers c ON o.customer_id = 7;

--@test: a stream cannot be joined to itself
CREATE STREAM transfers (account INT KEY, amount DOUBLE)
  WITH (kafka_topic='transfers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Can not join 'TRANSFERS' to 'TRANSFERS': self joins are not yet supported.
CREATE STREAM pairs AS
  SELECT a.account AS account, a.amount AS first, b.amount AS second
  FROM transfers a JOIN transfers b WITHIN 1 MINUTE ON a.account = b.account;

--@test: the two sides must have the same number of partitions
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=2);
--@expected.error: user
--@expected.message: Can't join `ORDERS` with `CUSTOMERS` since the number of partitions don't match. `ORDERS` partitions = 1; `CUSTOMERS` partitions = 2. Please repartition either one so that the number of partitions match.
CREATE STREAM enriched AS
  SELECT orders.customer_id, name, amount FROM orders JOIN customers ON orders.customer_id = customers.id;

--@test: a foreign-key join cannot be a right join
CREATE TABLE departments (id INT PRIMARY KEY, title STRING)
  WITH (kafka_topic='departments', value_format='JSON', partitions=1);
CREATE TABLE employees (emp_id INT PRIMARY KEY, name STRING, dept INT)
  WITH (kafka_topic='employees', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: RIGHT OUTER JOIN on a foreign key is not supported
CREATE TABLE staff AS
  SELECT emp_id, name, title FROM employees RIGHT JOIN departments ON employees.dept = departments.id;

--@test: a foreign-key join must select the left table's primary key
CREATE TABLE departments (id INT PRIMARY KEY, title STRING)
  WITH (kafka_topic='departments', value_format='JSON', partitions=1);
CREATE TABLE employees (emp_id INT PRIMARY KEY, name STRING, dept INT)
  WITH (kafka_topic='employees', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Primary key column missing in projection. For foreign-key table-table joins, the projection must include all primary key columns from the left input table (`EMPLOYEES`). Missing column: `EMP_ID`.
CREATE TABLE staff AS
  SELECT name, title FROM employees JOIN departments ON employees.dept = departments.id;

--@test: a source in the KAFKA value format cannot be joined
CREATE STREAM readings (sensor STRING KEY, celsius DOUBLE)
  WITH (kafka_topic='readings', value_format='KAFKA', partitions=1);
CREATE TABLE sensors (sensor STRING PRIMARY KEY, site STRING)
  WITH (kafka_topic='sensors', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Source(s) READINGS are using the 'KAFKA' value format. This format does not yet support JOIN.
CREATE STREAM located AS
  SELECT readings.sensor, celsius, site FROM readings JOIN sensors ON readings.sensor = sensors.sensor;

--@test: a windowed source cannot be joined to a non-windowed one
CREATE STREAM sessions (user_id STRING KEY, pages BIGINT)
  WITH (kafka_topic='sessions', value_format='JSON', window_type='SESSION', partitions=1);
CREATE STREAM purchases (user_id STRING KEY, amount DOUBLE)
  WITH (kafka_topic='purchases', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Can not join windowed source to non-windowed source.
CREATE STREAM converted AS
  SELECT sessions.user_id, pages, amount FROM sessions JOIN purchases WITHIN 1 HOUR
  ON sessions.user_id = purchases.user_id;

--@test: an n-way join cannot use the same source twice
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING, referrer INT)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: N-way joins do not support multiple occurrences of the same source. Source: 'CUSTOMERS'
CREATE STREAM enriched AS
  SELECT orders.customer_id, amount FROM orders
  JOIN customers ON orders.customer_id = customers.id
  JOIN customers ON orders.amount = customers.referrer;

--@test: each step of an n-way join must reference the source it adds
CREATE STREAM orders (customer_id INT KEY, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
CREATE TABLE limits (id INT PRIMARY KEY, max_amount DOUBLE)
  WITH (kafka_topic='limits', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: A join criteria is expected to reference the source (`LIMITS`) in the FROM clause, instead the right source references `CUSTOMERS` and the left source references `ORDERS`
CREATE STREAM checked AS
  SELECT orders.customer_id, amount, name FROM orders
  JOIN customers ON orders.customer_id = customers.id
  JOIN limits ON orders.customer_id = customers.id;

--@test: a foreign-key join cannot be a later step of an n-way join
CREATE TABLE employees (emp_id INT PRIMARY KEY, name STRING, dept INT)
  WITH (kafka_topic='employees', value_format='JSON', partitions=1);
CREATE TABLE badges (holder INT PRIMARY KEY, badge STRING)
  WITH (kafka_topic='badges', value_format='JSON', partitions=1);
CREATE TABLE departments (id INT PRIMARY KEY, title STRING)
  WITH (kafka_topic='departments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid join condition: foreign-key table-table joins are not supported as part of n-way joins. Got EMPLOYEES.DEPT = DEPARTMENTS.ID.
CREATE TABLE directory AS
  SELECT emp_id, name, badge, title FROM employees
  JOIN badges ON emp_id = holder
  JOIN departments ON dept = id;

--@test: a join cannot select a source's ROWTIME as ROWTIME
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Reserved column name in select: `ROWTIME`. Please remove or alias the column.
CREATE STREAM paid AS
  SELECT o.id AS id, o.ROWTIME AS ROWTIME, item, method FROM orders o JOIN payments p WITHIN 1 MINUTE
  ON o.id = p.id;

--@test: a join cannot be keyed by a MAP
CREATE STREAM carts (id INT KEY, items MAP<STRING, INT>)
  WITH (kafka_topic='carts', value_format='JSON', partitions=1);
CREATE STREAM wishlists (id INT KEY, items MAP<STRING, INT>)
  WITH (kafka_topic='wishlists', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Map keys, including types that contain maps, are not supported as they may lead to unexpected behavior due to inconsistent serialization. Key column name: `C_ITEMS`. Column type: MAP<STRING, INTEGER>.
CREATE STREAM same_items AS
  SELECT c.items, c.id AS cart FROM carts c JOIN wishlists w WITHIN 1 HOUR ON c.items = w.items;

--@test: an unknown selected column in a join is named
CREATE STREAM orders (id INT KEY, item STRING)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE STREAM payments (id INT KEY, method STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: SELECT column 'AMOUNT' cannot be resolved
CREATE STREAM paid AS
  SELECT o.id AS id, amount FROM orders o JOIN payments p WITHIN 1 MINUTE ON o.id = p.id;

--@test: a stream-table join on an expression must select the table's key column
CREATE STREAM tickets (ticket_id INT KEY, customer_ref STRING)
  WITH (kafka_topic='tickets', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: The query used to build `TICKETS_NAMED` must include the join expression C.ID in its projection (eg, SELECT C.ID...).
CREATE STREAM tickets_named AS
  SELECT t.ticket_id, c.name FROM tickets t JOIN customers c ON CAST(t.customer_ref AS INT) = c.id;

--@test: the window bounds of an aggregation over a join are not columns of the query
CREATE STREAM orders (order_id INT KEY, customer_id INT, amount DOUBLE)
  WITH (kafka_topic='orders', value_format='JSON', partitions=1);
CREATE TABLE customers (id INT PRIMARY KEY, tier STRING)
  WITH (kafka_topic='customers', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: SELECT column 'WINDOWSTART' cannot be resolved.
CREATE TABLE per_tier AS
  SELECT c.tier, WINDOWSTART AS ws, COUNT(*) AS n
  FROM orders o JOIN customers c ON o.customer_id = c.id
  WINDOW TUMBLING (SIZE 1 MINUTE)
  GROUP BY c.tier;
