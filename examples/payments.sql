-- Payments above 10, upper-cased customer, doubled amount.
-- Run: cargo run --release -- run examples/payments.sql --until-idle
CREATE STREAM payments (id BIGINT KEY, customer STRING, amount DOUBLE)
  WITH (kafka_topic='payments', value_format='json', partitions=1);
SET 'auto.offset.reset' = 'earliest';
INSERT INTO payments (id, customer, amount) VALUES (1, 'ann', 5.0);
INSERT INTO payments (id, customer, amount) VALUES (2, 'bob', 20.5);
INSERT INTO payments (id, customer, amount) VALUES (3, 'cy', 11.0);
CREATE STREAM big_payments AS
  SELECT id, UCASE(customer) AS who, amount * 2 AS doubled
  FROM payments WHERE amount > 10;
SELECT * FROM big_payments EMIT CHANGES LIMIT 2;
