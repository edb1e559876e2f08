-- Statements sluice must reject, with messages that say what is wrong.

--@test: an unknown column is named, with the closest match
CREATE STREAM payments (id INT KEY, amount DOUBLE, currency STRING)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Did you mean AMOUNT?
CREATE STREAM large AS SELECT id, amont FROM payments WHERE amount > 100;

--@test: an unknown source is named
--@expected.error: user
--@expected.message: PAYMENT does not exist
CREATE STREAM copy AS SELECT * FROM payment;

--@test: a source cannot be created twice
CREATE STREAM payments (id INT KEY, amount DOUBLE)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: already exists
CREATE STREAM payments (id INT KEY, amount DOUBLE)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);

--@test: a topic that does not exist must be given partitions
--@expected.error: user
--@expected.message: 'missing' does not exist
CREATE STREAM payments (id INT KEY, amount DOUBLE)
  WITH (kafka_topic='missing', value_format='JSON');

--@test: a syntax error gives its position
--@expected.error: user
--@expected.message: line 1:
CREATE STREAM payments (id INT KEY amount DOUBLE)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);

--@test: an unknown WITH property is rejected
--@expected.error: user
--@expected.message: KAFKA_TOPICS
CREATE STREAM payments (id INT KEY, amount DOUBLE)
  WITH (kafka_topics='payments', value_format='JSON', partitions=1);

--@test: dropping a stream that a query reads is refused
CREATE STREAM payments (id INT KEY, amount DOUBLE)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
CREATE STREAM big AS SELECT id, amount FROM payments WHERE amount > 10;
--@expected.error: user
--@expected.message: CSAS_BIG_0
DROP STREAM payments;

--@test: a stream needs columns when its format cannot infer them
--@expected.error: user
--@expected.message: No columns supplied.
CREATE STREAM bare WITH (kafka_topic='bare', value_format='JSON', partitions=1);

--@test: a space delimiter must be named
--@expected.error: user
--@expected.message: please use the special values 'TAB' or 'SPACE'
CREATE STREAM spaced (id INT KEY, a STRING, b STRING)
  WITH (kafka_topic='spaced', value_format='DELIMITED', value_delimiter=' ', partitions=1);

--@test: a windowed source needs a key
--@expected.error: user
--@expected.message: Windowed sources require a key column.
CREATE STREAM windows (total INT)
  WITH (kafka_topic='windows', value_format='JSON', window_type='TUMBLING', window_size='1 MINUTE', partitions=1);

--@test: a schema name needs a format with schemas
--@expected.error: user
--@expected.message: JSON does not support the following configs: [fullSchemaName]
CREATE STREAM named (id INT KEY, v INT)
  WITH (kafka_topic='named', value_format='JSON', value_schema_full_name='x.Y', partitions=1);

--@test: a source stream cannot be created or replaced
--@expected.error: user
--@expected.message: CREATE OR REPLACE is not supported on source streams.
CREATE OR REPLACE SOURCE STREAM feed (id INT KEY, v INT)
  WITH (kafka_topic='feed', value_format='JSON', partitions=1);

--@test: a source stream's topic cannot be deleted
CREATE SOURCE STREAM feed (id INT KEY, v INT)
  WITH (kafka_topic='feed', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Cannot delete topic for read-only source: FEED
DROP STREAM feed DELETE TOPIC;

--@test: an integer literal must fit a BIGINT
CREATE STREAM payments (id INT KEY, amount DOUBLE)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid numeric literal: -9300000000000000000
CREATE STREAM big AS SELECT id, -9300000000000000000 AS x FROM payments;

--@test: a column cannot be an untyped null
CREATE STREAM payments (id INT KEY, amount DOUBLE)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Can't infer a type of null.
CREATE STREAM nothing AS SELECT id, NULL AS x FROM payments;

--@test: a CASE needs a branch with a type
CREATE STREAM payments (id INT KEY, amount DOUBLE)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Invalid Case expression. All case branches have NULL type
CREATE STREAM nothing AS SELECT id, CASE WHEN amount > 1 THEN NULL END AS x FROM payments;
