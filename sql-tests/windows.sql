-- Windowed aggregation: TUMBLING, HOPPING and SESSION windows, grace
-- periods, late records, EMIT FINAL. Time is the records' own time; stream
-- time only moves with data. Windowed keys are written as Kafka Streams
-- writes them (key, then window start; sessions: key, end, start).

--@test: tumbling windows count per key and window
CREATE STREAM readings (sensor STRING KEY, celsius DOUBLE)
  WITH (kafka_topic='readings', value_format='JSON', partitions=1);
CREATE TABLE per_minute AS
  SELECT sensor, COUNT(*) AS n, AVG(celsius) AS mean
  FROM readings WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY sensor;

INSERT INTO readings (sensor, celsius, ROWTIME) VALUES ('s1', 20.0, 10000);
INSERT INTO readings (sensor, celsius, ROWTIME) VALUES ('s1', 22.0, 50000);
INSERT INTO readings (sensor, celsius, ROWTIME) VALUES ('s1', 30.0, 61000);

ASSERT VALUES per_minute (sensor, n, mean, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('s1', 1, 20.0, 0, 60000, 10000);
ASSERT VALUES per_minute (sensor, n, mean, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('s1', 2, 21.0, 0, 60000, 50000);
ASSERT VALUES per_minute (sensor, n, mean, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('s1', 1, 30.0, 60000, 120000, 61000);

--@test: hopping windows update every window a record falls in
CREATE STREAM trades (sym STRING KEY, px DOUBLE)
  WITH (kafka_topic='trades', value_format='JSON', partitions=1);
CREATE TABLE moving AS
  SELECT sym, COUNT(*) AS n FROM trades
  WINDOW HOPPING (SIZE 20 SECONDS, ADVANCE BY 10 SECONDS) GROUP BY sym;

INSERT INTO trades (sym, px, ROWTIME) VALUES ('X', 1.0, 15000);

ASSERT VALUES moving (sym, n, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('X', 1, 0, 20000, 15000);
ASSERT VALUES moving (sym, n, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('X', 1, 10000, 30000, 15000);

--@test: WINDOWSTART and WINDOWEND can be selected as values
CREATE STREAM pings (host STRING KEY, ok BOOLEAN)
  WITH (kafka_topic='pings', value_format='JSON', partitions=1);
CREATE TABLE uptime AS
  SELECT host, WINDOWSTART AS ws, WINDOWEND AS we, COUNT(*) AS n
  FROM pings WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY host;

INSERT INTO pings (host, ok, ROWTIME) VALUES ('h', true, 12000);

ASSERT VALUES uptime (host, ws, we, n, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('h', 10000, 20000, 1, 10000, 20000, 12000);

--@test: a record later than the grace period is dropped
CREATE STREAM taps (card STRING KEY, amount INT)
  WITH (kafka_topic='taps', value_format='JSON', partitions=1);
CREATE TABLE per_10s AS
  SELECT card, SUM(amount) AS total FROM taps
  WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 5 SECONDS) GROUP BY card;

INSERT INTO taps (card, amount, ROWTIME) VALUES ('c', 1, 1000);
INSERT INTO taps (card, amount, ROWTIME) VALUES ('c', 2, 14000);
-- stream time 14000: window [0, 10000) still open until 15000
INSERT INTO taps (card, amount, ROWTIME) VALUES ('c', 4, 2000);
INSERT INTO taps (card, amount, ROWTIME) VALUES ('c', 8, 16000);
-- stream time 16000: window [0, 10000) closed; this record is dropped
INSERT INTO taps (card, amount, ROWTIME) VALUES ('c', 100, 3000);

ASSERT VALUES per_10s (card, total, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('c', 1, 0, 10000, 1000);
ASSERT VALUES per_10s (card, total, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('c', 2, 10000, 20000, 14000);
ASSERT VALUES per_10s (card, total, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('c', 5, 0, 10000, 2000);
ASSERT VALUES per_10s (card, total, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('c', 10, 10000, 20000, 16000);

--@test: EMIT FINAL writes each window once, when it closes
CREATE STREAM door (room STRING KEY, opened BOOLEAN)
  WITH (kafka_topic='door', value_format='JSON', partitions=1);
CREATE TABLE openings AS
  SELECT room, COUNT(*) AS n FROM door
  WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 0 SECONDS) GROUP BY room EMIT FINAL;

INSERT INTO door (room, opened, ROWTIME) VALUES ('r1', true, 1000);
INSERT INTO door (room, opened, ROWTIME) VALUES ('r1', true, 5000);
INSERT INTO door (room, opened, ROWTIME) VALUES ('r2', true, 7000);
-- stream time reaches 10000: window [0, 10000) closes for both rooms
INSERT INTO door (room, opened, ROWTIME) VALUES ('r1', true, 10000);

ASSERT VALUES openings (room, n, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('r1', 2, 0, 10000, 5000);
ASSERT VALUES openings (room, n, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('r2', 1, 0, 10000, 7000);

--@test: session windows grow with activity and merge, with tombstones for the merged sessions
CREATE STREAM actions (usr STRING KEY, page STRING)
  WITH (kafka_topic='actions', value_format='JSON', partitions=1);
CREATE TABLE sessions AS
  SELECT usr, COUNT(*) AS pages FROM actions WINDOW SESSION (30 SECONDS) GROUP BY usr;

INSERT INTO actions (usr, page, ROWTIME) VALUES ('u', 'a', 0);
INSERT INTO actions (usr, page, ROWTIME) VALUES ('u', 'b', 100000);
-- 50000 is within 30 s of neither session
INSERT INTO actions (usr, page, ROWTIME) VALUES ('u', 'c', 50000);
-- 25000 joins the sessions at 0 and 50000 into one
INSERT INTO actions (usr, page, ROWTIME) VALUES ('u', 'd', 25000);

ASSERT VALUES sessions (usr, pages, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('u', 1, 0, 0, 0);
ASSERT VALUES sessions (usr, pages, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('u', 1, 100000, 100000, 100000);
ASSERT VALUES sessions (usr, pages, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('u', 1, 50000, 50000, 50000);
ASSERT NULL VALUES sessions (usr, WINDOWSTART, WINDOWEND) KEY ('u', 0, 0);
ASSERT NULL VALUES sessions (usr, WINDOWSTART, WINDOWEND) KEY ('u', 50000, 50000);
ASSERT VALUES sessions (usr, pages, WINDOWSTART, WINDOWEND, ROWTIME) VALUES ('u', 3, 0, 50000, 50000);

--@test: EMIT FINAL needs a window
CREATE STREAM s (k STRING KEY, v INT)
  WITH (kafka_topic='s', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: EMIT FINAL is only supported for windowed aggregations
CREATE TABLE t AS SELECT k, COUNT(*) AS n FROM s GROUP BY k EMIT FINAL;

--@test: WINDOW needs a GROUP BY
CREATE STREAM s (k STRING KEY, v INT)
  WITH (kafka_topic='s', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: WINDOW clause requires a GROUP BY clause
CREATE STREAM t AS SELECT k, v FROM s WINDOW TUMBLING (SIZE 1 SECOND);
