-- IoT temperatures: the average, lowest and highest reading of each sensor
-- per minute (updated as readings arrive), and an alert for every minute in
-- which a sensor averaged above 35 °C.
--
-- All at once, on the embedded broker (prints what the queries wrote):
--   sluice example run iot
-- Live, against `sluice server` (see the README, "Examples"):
--   sluice shell --server http://localhost:8088 -f examples/iot/pipeline.sql
--   sluice example data iot --bootstrap-servers ADDRESS --rate 20

CREATE STREAM readings (sensor_id STRING KEY, temperature DOUBLE, ts BIGINT)
  WITH (kafka_topic='sensor_readings', value_format='JSON', partitions=1,
        timestamp='ts');

-- The queries read the readings from the beginning of the topic.
SET 'auto.offset.reset' = 'earliest';

-- Per sensor and minute, updated with every reading (EMIT CHANGES).
CREATE TABLE sensor_averages AS
  SELECT sensor_id, COUNT(*) AS readings, ROUND(AVG(temperature), 2) AS avg_temp,
         MIN(temperature) AS min_temp, MAX(temperature) AS max_temp
  FROM readings
  WINDOW TUMBLING (SIZE 1 MINUTE)
  GROUP BY sensor_id
  EMIT CHANGES;

-- Minutes averaging above 35 °C, each written once, when the minute is over
-- (a single hot reading among normal ones does not make an alert).
CREATE TABLE overheating_alerts AS
  SELECT sensor_id, ROUND(AVG(temperature), 2) AS avg_temp,
         MAX(temperature) AS max_temp, COUNT(*) AS readings
  FROM readings
  WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 0 SECONDS)
  GROUP BY sensor_id
  HAVING AVG(temperature) > 35
  EMIT FINAL;
