-- Sources declared over topics whose keys are windowed, as Kafka Streams
-- writes them (WINDOW_TYPE / WINDOW_SIZE): the key bytes, then for a
-- TUMBLING or HOPPING window the start (8 bytes big-endian), for a SESSION
-- window the end and the start. Each row has WINDOWSTART and WINDOWEND.
--
-- INSERT INTO … VALUES cannot write into a windowed source, so each case
-- declares a second, plain stream over the same topic with a BYTES key and
-- writes the windowed keys through it, spelled in hex.

--@test: a tumbling source gives each row its window start and end
CREATE STREAM clicks_raw (k BYTES KEY, page STRING)
  WITH (kafka_topic='clicks', key_format='KAFKA', value_format='JSON', partitions=1);
CREATE STREAM clicks (user_id INT KEY, page STRING)
  WITH (kafka_topic='clicks', value_format='JSON',
        window_type='TUMBLING', window_size='10 SECONDS');
CREATE STREAM click_windows AS
  SELECT user_id, page, WINDOWSTART AS ws, WINDOWEND AS we FROM clicks;

-- user 7, window starting at 10000 (0x2710) and at 20000 (0x4E20)
INSERT INTO clicks_raw (k, page, ROWTIME)
  VALUES (TO_BYTES('00000007' || '0000000000002710', 'hex'), 'home', 10500);
INSERT INTO clicks_raw (k, page, ROWTIME)
  VALUES (TO_BYTES('00000007' || '0000000000004E20', 'hex'), 'cart', 21000);

ASSERT VALUES click_windows (user_id, page, ws, we, ROWTIME) VALUES (7, 'home', 10000, 20000, 10500);
ASSERT VALUES click_windows (user_id, page, ws, we, ROWTIME) VALUES (7, 'cart', 20000, 30000, 21000);

--@test: a hopping source can be filtered on its window bounds
CREATE STREAM load_raw (k BYTES KEY, avg_load DOUBLE)
  WITH (kafka_topic='load', key_format='KAFKA', value_format='JSON', partitions=1);
CREATE STREAM host_load (host_id INT KEY, avg_load DOUBLE)
  WITH (kafka_topic='load', value_format='JSON',
        window_type='HOPPING', window_size='10 SECONDS');
CREATE STREAM late_windows AS
  SELECT host_id, avg_load, WINDOWEND AS window_end
  FROM host_load WHERE WINDOWSTART >= 10000;

-- host 1 in the overlapping windows starting at 5000 (0x1388) and 10000
INSERT INTO load_raw (k, avg_load, ROWTIME)
  VALUES (TO_BYTES('00000001' || '0000000000001388', 'hex'), 0.5, 12000);
INSERT INTO load_raw (k, avg_load, ROWTIME)
  VALUES (TO_BYTES('00000001' || '0000000000002710', 'hex'), 0.75, 12000);

ASSERT VALUES late_windows (host_id, avg_load, window_end, ROWTIME) VALUES (1, 0.75, 20000, 12000);

--@test: a session source reads the window end, then the start
CREATE STREAM visits_raw (k BYTES KEY, pages INT)
  WITH (kafka_topic='visits', key_format='KAFKA', value_format='JSON', partitions=1);
CREATE STREAM visits (visitor INT KEY, pages INT)
  WITH (kafka_topic='visits', value_format='JSON', window_type='SESSION');
CREATE STREAM visit_lengths AS
  SELECT visitor, pages, WINDOWSTART AS started, WINDOWEND - WINDOWSTART AS length_ms
  FROM visits;

-- visitor 2, session from 1000 (0x03E8) to 9000 (0x2328): end first
INSERT INTO visits_raw (k, pages, ROWTIME)
  VALUES (TO_BYTES('00000002' || '0000000000002328' || '00000000000003E8', 'hex'), 4, 9000);

ASSERT VALUES visit_lengths (visitor, pages, started, length_ms, ROWTIME) VALUES (2, 4, 1000, 8000, 9000);

--@test: the inner key keeps its own format
CREATE STREAM tags_raw (k BYTES KEY, n INT)
  WITH (kafka_topic='tags', key_format='KAFKA', value_format='JSON', partitions=1);
CREATE STREAM tags (tag STRING KEY, n INT)
  WITH (kafka_topic='tags', key_format='JSON', value_format='JSON',
        window_type='TUMBLING', window_size='1 MINUTE');
CREATE STREAM tag_windows AS SELECT tag, n, WINDOWSTART AS ws FROM tags;

-- the JSON key "ab" (22 61 62 22), window starting at 60000 (0xEA60)
INSERT INTO tags_raw (k, n, ROWTIME)
  VALUES (TO_BYTES('22616222' || '000000000000EA60', 'hex'), 3, 61000);

ASSERT VALUES tag_windows (tag, n, ws, ROWTIME) VALUES ('ab', 3, 60000, 61000);

--@test: a key too short to hold its window is skipped
CREATE STREAM short_raw (k BYTES KEY, v INT)
  WITH (kafka_topic='short', key_format='KAFKA', value_format='JSON', partitions=1);
CREATE STREAM short_keys (id INT KEY, v INT)
  WITH (kafka_topic='short', value_format='JSON',
        window_type='TUMBLING', window_size='1 SECOND');
CREATE STREAM short_out AS SELECT id, v, WINDOWSTART AS ws FROM short_keys;

-- four bytes: a key, but no window
INSERT INTO short_raw (k, v, ROWTIME) VALUES (TO_BYTES('00000005', 'hex'), 1, 1000);
INSERT INTO short_raw (k, v, ROWTIME)
  VALUES (TO_BYTES('00000005' || '00000000000007D0', 'hex'), 2, 2000);

ASSERT VALUES short_out (id, v, ws, ROWTIME) VALUES (5, 2, 2000, 2000);

--@test: an unknown window type is rejected
--@expected.error: user
--@expected.message: WINDOW_TYPE
CREATE STREAM s (id INT KEY, v INT)
  WITH (kafka_topic='s', value_format='JSON', partitions=1, window_type='SLIDING');

--@test: a hopping source needs a window size
--@expected.error: user
--@expected.message: WINDOW_SIZE
CREATE STREAM s (id INT KEY, v INT)
  WITH (kafka_topic='s', value_format='JSON', partitions=1, window_type='HOPPING');

--@test: a session source takes no window size
--@expected.error: user
--@expected.message: should not be set for SESSION windows
CREATE STREAM s (id INT KEY, v INT)
  WITH (kafka_topic='s', value_format='JSON', partitions=1,
        window_type='SESSION', window_size='5 SECONDS');

--@test: a windowed source needs a key column
--@expected.error: user
--@expected.message: Windowed sources require a key column.
CREATE STREAM s (v INT)
  WITH (kafka_topic='s', value_format='JSON', partitions=1,
        window_type='TUMBLING', window_size='5 SECONDS');

--@test: window bounds selected by a persistent query need an alias
CREATE STREAM s (id INT KEY, v INT)
  WITH (kafka_topic='s', value_format='JSON', partitions=1,
        window_type='TUMBLING', window_size='5 SECONDS');
--@expected.error: user
--@expected.message: Reserved column name in select: `WINDOWSTART`
CREATE STREAM out AS SELECT id, WINDOWSTART FROM s;
