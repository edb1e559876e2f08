-- Card fraud: two rules over card transactions, both writing alerts to the
-- topic FRAUD_ALERTS: a single transaction of 1000 or more, and five or
-- more transactions on one card within a minute.
--
-- All at once, on the embedded broker (prints what the queries wrote):
--   sluice example run card-fraud
-- Live, against `sluice server` (see the README, "Examples"):
--   sluice shell --server http://localhost:8088 -f examples/card-fraud/pipeline.sql
--   sluice example data card-fraud --bootstrap-servers ADDRESS --rate 20

CREATE STREAM transactions (card_id STRING KEY, txn_id BIGINT, amount DOUBLE,
    merchant STRING, city STRING, ts BIGINT)
  WITH (kafka_topic='transactions', value_format='JSON', partitions=1,
        timestamp='ts');

-- The queries read the transactions from the beginning of the topic.
SET 'auto.offset.reset' = 'earliest';

-- Rule 1: a large amount.
CREATE STREAM fraud_alerts AS
  SELECT card_id, 'LARGE_AMOUNT' AS reason, amount, CAST(1 AS BIGINT) AS txn_count,
         TIMESTAMPTOSTRING(ts, 'yyyy-MM-dd HH:mm:ss', 'UTC') AS seen_at
  FROM transactions
  WHERE amount >= 1000;

-- Rule 2: many transactions per card per minute. EMIT FINAL writes each
-- minute once, when it is over, and HAVING keeps the busy ones.
CREATE TABLE card_minutes AS
  SELECT card_id, COUNT(*) AS txn_count, ROUND(SUM(amount), 2) AS total
  FROM transactions
  WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 10 SECONDS)
  GROUP BY card_id
  HAVING COUNT(*) >= 5
  EMIT FINAL;

-- The busy minutes, read back as a stream and added to the alerts (PARTITION
-- BY keys them by the card alone, without the window).
CREATE STREAM card_minute_events (card_id STRING KEY, txn_count BIGINT, total DOUBLE)
  WITH (kafka_topic='CARD_MINUTES', value_format='JSON',
        window_type='TUMBLING', window_size='1 MINUTE');

INSERT INTO fraud_alerts
  SELECT card_id, 'MANY_TXNS_PER_MINUTE' AS reason, total AS amount, txn_count,
         TIMESTAMPTOSTRING(WINDOWSTART, 'yyyy-MM-dd HH:mm:ss', 'UTC') AS seen_at
  FROM card_minute_events
  PARTITION BY card_id;
