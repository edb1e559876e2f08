-- Keys of a query's output: which columns, in which order, copies into the value.

--@test: AS_VALUE copies a key column into the value
CREATE STREAM visits (page STRING KEY, ms INT)
  WITH (kafka_topic='visits', value_format='JSON', partitions=1);
CREATE STREAM with_page AS SELECT page, AS_VALUE(page) AS page_name, ms FROM visits;

INSERT INTO visits (page, ms, ROWTIME) VALUES ('/home', 40, 1);

ASSERT VALUES with_page (page, page_name, ms, ROWTIME) VALUES ('/home', '/home', 40, 1);

--@test: a key of several columns keeps the source's order
CREATE STREAM seats (hall INT KEY, seat INT KEY, holder STRING)
  WITH (kafka_topic='seats', key_format='DELIMITED', value_format='JSON', partitions=1);
CREATE STREAM taken AS SELECT seat, hall, holder FROM seats;

INSERT INTO seats (hall, seat, holder, ROWTIME) VALUES (2, 17, 'jo', 1);

ASSERT VALUES taken (hall, seat, holder, ROWTIME) VALUES (2, 17, 'jo', 1);

--@test: a key column selected twice is rejected
CREATE STREAM visits (page STRING KEY, ms INT)
  WITH (kafka_topic='visits', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: The projection contains a key column (`PAGE`) more than once, aliased as: PAGE and P2.
CREATE STREAM bad AS SELECT page, page AS p2, ms FROM visits;

--@test: generated names skip the source's column names
CREATE STREAM raw (KSQL_COL_0 INT KEY, KSQL_COL_1 INT)
  WITH (kafka_topic='raw', value_format='JSON', partitions=1);
CREATE STREAM cooked AS SELECT KSQL_COL_0, KSQL_COL_1 * 2, KSQL_COL_1 + 1 FROM raw;

INSERT INTO raw (KSQL_COL_0, KSQL_COL_1, ROWTIME) VALUES (1, 5, 1);

ASSERT VALUES cooked (KSQL_COL_0, KSQL_COL_2, KSQL_COL_3, ROWTIME) VALUES (1, 10, 6, 1);

--@test: columns can be qualified by the source's alias
CREATE STREAM visits (page STRING KEY, ms INT)
  WITH (kafka_topic='visits', value_format='JSON', partitions=1);
CREATE STREAM slow AS SELECT v.page, v.ms FROM visits v WHERE v.ms > 100;

INSERT INTO visits (page, ms, ROWTIME) VALUES ('/a', 50, 1);
INSERT INTO visits (page, ms, ROWTIME) VALUES ('/b', 150, 2);

ASSERT VALUES slow (page, ms, ROWTIME) VALUES ('/b', 150, 2);

--@test: a system column must be aliased to be selected into a sink
CREATE STREAM visits (page STRING KEY, ms INT)
  WITH (kafka_topic='visits', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Reserved column name in select: `ROWOFFSET`. Please remove or alias the column.
CREATE STREAM bad AS SELECT page, ROWOFFSET FROM visits;

--@test: an aliased system column is an ordinary value column
CREATE STREAM visits (page STRING KEY, ms INT)
  WITH (kafka_topic='visits', value_format='JSON', partitions=1);
CREATE STREAM stamped AS SELECT page, ROWTIME AS seen_at FROM visits;

INSERT INTO visits (page, ms, ROWTIME) VALUES ('/c', 1, 77);

ASSERT VALUES stamped (page, seen_at, ROWTIME) VALUES ('/c', 77, 77);

--@test: a KEY_FORMAT for a sink without key columns is rejected
CREATE STREAM visits (page STRING KEY, ms INT)
  WITH (kafka_topic='visits', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Key format specified for stream without key columns.
CREATE STREAM bad WITH (key_format='JSON') AS SELECT page, ms FROM visits PARTITION BY NULL;
