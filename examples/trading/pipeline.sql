-- Trading: a moving average of each symbol's price (one-minute windows
-- advancing every 20 seconds, updated with every trade), and an alert for
-- every such window in which the price ended 5 % or more below its high.
--
-- All at once, on the embedded broker (prints what the queries wrote):
--   sluice example run trading
-- Live, against `sluice server` (see the README, "Examples"):
--   sluice shell --server http://localhost:8088 -f examples/trading/pipeline.sql
--   sluice example data trading --bootstrap-servers ADDRESS --rate 20

CREATE STREAM trades (symbol STRING KEY, price DOUBLE, volume BIGINT, ts BIGINT)
  WITH (kafka_topic='trades', value_format='JSON', partitions=1,
        timestamp='ts');

-- The queries read the trades from the beginning of the topic.
SET 'auto.offset.reset' = 'earliest';

-- The moving average, updated with every trade (EMIT CHANGES).
CREATE TABLE moving_averages AS
  SELECT symbol, ROUND(AVG(price), 2) AS avg_price, MIN(price) AS low,
         MAX(price) AS high, SUM(volume) AS volume, COUNT(*) AS trades
  FROM trades
  WINDOW HOPPING (SIZE 1 MINUTE, ADVANCE BY 20 SECONDS)
  GROUP BY symbol
  EMIT CHANGES;

-- Sudden drops: the last price of a window 5 % or more below the window's
-- high, written once per window, when it is over.
CREATE TABLE price_drop_alerts AS
  SELECT symbol, MAX(price) AS high, LATEST_BY_OFFSET(price) AS last_price,
         ROUND(100 * (MAX(price) - LATEST_BY_OFFSET(price)) / MAX(price), 2) AS drop_pct
  FROM trades
  WINDOW HOPPING (SIZE 1 MINUTE, ADVANCE BY 20 SECONDS, GRACE PERIOD 0 SECONDS)
  GROUP BY symbol
  HAVING LATEST_BY_OFFSET(price) <= 0.95 * MAX(price)
  EMIT FINAL;
