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
