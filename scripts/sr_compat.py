"""Schema Registry interop: Confluent's own Python clients (confluent-kafka's
SchemaRegistryClient and its Avro, JSON Schema and Protobuf serdes, which
nobody here wrote) against `sluice server` and a registry.

For each format: produce records with the Confluent serializer (it registers
the writer schema under `<topic>-value`), create a stream with no columns
(sluice infers them from the registry), check DESCRIBE, run a CREATE STREAM
AS SELECT with a filter and computed columns, consume its output with the
Confluent deserializer (it fetches sluice's writer schema by id), compare
every value with what the query must produce, and check the registry's
subjects. One summary line per format; exit status 1 when any format fails.

Usage: sr_compat.py KSQL_URL REGISTRY_URL [--registry-name NAME] [FORMAT ...]
FORMAT is AVRO, JSON_SR or PROTOBUF (default: all three).
"""

import argparse
import datetime
import decimal
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

import grpc_tools
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, StringSerializer
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from grpc_tools import protoc

RECORDS = 50
DEADLINE_S = 60
FORMATS = ["AVRO", "JSON_SR", "PROTOBUF"]
# The query every format runs; `extra` adds the columns only AVRO has.
QUERY = (
    "CREATE STREAM out_{fmt} WITH (KAFKA_TOPIC='{out}', VALUE_FORMAT='{FMT}') AS "
    "SELECT id, total_cents, price * qty AS line_total, paid, customer, "
    "customer->name AS cname, tags{extra} FROM s_{fmt} WHERE paid EMIT CHANGES;"
)
EARLIEST = {"auto.offset.reset": "earliest"}
EPOCH_2024 = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


class Failure(Exception):
    """A check that did not hold; the message says which and what was seen."""


def input_rows():
    """The records every format produces: (key, value) with snake_case names."""
    rows = []
    for i in range(RECORDS):
        rows.append(
            (
                f"k{i}",
                {
                    "id": f"o{i}",
                    "qty": i,
                    "total_cents": i * 10_000_000_000,  # past the range of a 32-bit int
                    "price": i * 1.5,
                    "paid": i % 2 == 0,
                    "customer": {"name": f"c{i % 5}", "zip": 10_000 + i},
                    "tags": [f"t{i}", "x"],
                    "placed_at": EPOCH_2024 + datetime.timedelta(seconds=i, milliseconds=i),
                    "amount": decimal.Decimal(f"{i}.25"),
                },
            )
        )
    return rows


def expected_output(value, with_logical_types):
    """What QUERY makes of one input value, with the names sluice writes;
    None when the filter drops it."""
    if not value["paid"]:
        return None
    out = {
        "ID": value["id"],
        "TOTAL_CENTS": value["total_cents"],
        "LINE_TOTAL": value["price"] * value["qty"],
        "PAID": value["paid"],
        "CUSTOMER": {"NAME": value["customer"]["name"], "ZIP": value["customer"]["zip"]},
        "CNAME": value["customer"]["name"],
        "TAGS": value["tags"],
    }
    if with_logical_types:
        out["PLACED_AT"] = value["placed_at"]
        out["AMOUNT"] = value["amount"]
    return out


# --- AVRO -------------------------------------------------------------------

AVRO_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "namespace": "sr_compat",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "qty", "type": "int"},
            {"name": "total_cents", "type": "long"},
            {"name": "price", "type": "double"},
            {"name": "paid", "type": "boolean"},
            {
                "name": "customer",
                "type": {
                    "type": "record",
                    "name": "Customer",
                    "fields": [{"name": "name", "type": "string"}, {"name": "zip", "type": "int"}],
                },
            },
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
            },
        ],
    }
)


class Avro:
    """AVRO: a record with logical types (timestamp-millis, decimal)."""

    fmt = "AVRO"
    schema_type = "AVRO"
    with_logical_types = True
    columns = (
        "ID STRING, QTY INTEGER, TOTAL_CENTS BIGINT, PRICE DOUBLE, PAID BOOLEAN, "
        "CUSTOMER STRUCT<NAME STRING, ZIP INTEGER>, TAGS ARRAY<STRING>, "
        "PLACED_AT TIMESTAMP, AMOUNT DECIMAL(10, 2)"
    )

    def __init__(self, registry):
        self.registry = registry

    def serializer(self):
        return AvroSerializer(self.registry, AVRO_SCHEMA)

    def to_wire(self, value):
        return value

    def deserializer(self, out_subject):
        return AvroDeserializer(self.registry)

    def from_wire(self, value):
        return value


# --- JSON_SR ------------------------------------------------------------------

JSON_SCHEMA = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Order",
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "qty": {"type": "integer", "connect.type": "int32"},
            "total_cents": {"type": "integer"},
            "price": {"type": "number"},
            "paid": {"type": "boolean"},
            "customer": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "zip": {"type": "integer"}},
                "required": ["name", "zip"],
            },
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["id", "qty", "total_cents", "price", "paid", "customer", "tags"],
    }
)


class JsonSr:
    """JSON_SR: a JSON Schema with Connect's `connect.type` on one integer."""

    fmt = "JSON_SR"
    schema_type = "JSON"
    with_logical_types = False
    columns = (
        "ID STRING, QTY INTEGER, TOTAL_CENTS BIGINT, PRICE DOUBLE, PAID BOOLEAN, "
        "CUSTOMER STRUCT<NAME STRING, ZIP BIGINT>, TAGS ARRAY<STRING>"
    )

    def __init__(self, registry):
        self.registry = registry

    def serializer(self):
        return JSONSerializer(JSON_SCHEMA, self.registry)

    def to_wire(self, value):
        return {k: v for k, v in value.items() if k not in ("placed_at", "amount")}

    def deserializer(self, out_subject):
        return JSONDeserializer(None, schema_registry_client=self.registry)

    def from_wire(self, value):
        return value


# --- PROTOBUF -----------------------------------------------------------------

PROTO_FILE = "sr_compat_order.proto"
PROTO_SCHEMA = """syntax = "proto3";
package sr_compat;

message Order {
  message Customer {
    string name = 1;
    int32 zip = 2;
  }
  string id = 1;
  int32 qty = 2;
  int64 total_cents = 3;
  double price = 4;
  bool paid = 5;
  Customer customer = 6;
  repeated string tags = 7;
}
"""


def compile_proto(file_name, text):
    """Compiles .proto text into a FileDescriptor with the protoc of grpcio-tools
    (no system protoc needed)."""
    includes = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, file_name), "w") as f:
            f.write(text)
        out = os.path.join(tmp, "set.pb")
        status = protoc.main(
            [
                "protoc",
                f"-I{tmp}",
                f"-I{includes}",
                "--include_imports",
                f"--descriptor_set_out={out}",
                file_name,
            ]
        )
        if status != 0:
            raise Failure(
                f"protoc cannot compile {file_name} (see its error above); the text:\n{text}"
            )
        with open(out, "rb") as f:
            files = descriptor_pb2.FileDescriptorSet.FromString(f.read()).file
    pool = descriptor_pool.DescriptorPool()
    for proto in files:  # imports come first
        pool.Add(proto)
    return pool.FindFileByName(file_name)


def proto_to_dict(message):
    """A message as a dict of Python values (json_format would turn int64 into strings)."""
    out = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        is_message = field.type == field.TYPE_MESSAGE
        if field.is_repeated:
            out[field.name] = [proto_to_dict(v) if is_message else v for v in value]
        elif is_message:
            out[field.name] = proto_to_dict(value) if message.HasField(field.name) else None
        else:
            out[field.name] = value
    return out


class Protobuf:
    """PROTOBUF: a proto3 message with a nested message."""

    fmt = "PROTOBUF"
    schema_type = "PROTOBUF"
    with_logical_types = False
    columns = (
        "ID STRING, QTY INTEGER, TOTAL_CENTS BIGINT, PRICE DOUBLE, PAID BOOLEAN, "
        "CUSTOMER STRUCT<NAME STRING, ZIP INTEGER>, TAGS ARRAY<STRING>"
    )

    def __init__(self, registry):
        self.registry = registry
        order = compile_proto(PROTO_FILE, PROTO_SCHEMA).message_types_by_name["Order"]
        self.order_class = message_factory.GetMessageClass(order)

    def serializer(self):
        return ProtobufSerializer(self.order_class, self.registry)

    def to_wire(self, value):
        fields = {k: v for k, v in value.items() if k not in ("placed_at", "amount")}
        return json_format.ParseDict(fields, self.order_class())

    def deserializer(self, out_subject):
        # The message class for sluice's output comes from the schema text
        # sluice registered: its first message, as Confluent's serdes read it.
        registered = self.registry.get_latest_version(out_subject).schema.schema_str
        file = compile_proto("sluice_output.proto", registered)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        if not proto.message_type:
            raise Failure(
                f"the schema registered for {out_subject} defines no message:\n{registered}"
            )
        first = file.message_types_by_name[proto.message_type[0].name]
        return ProtobufDeserializer(
            message_factory.GetMessageClass(first), schema_registry_client=self.registry
        )

    def from_wire(self, value):
        return proto_to_dict(value)


CASES = {"AVRO": Avro, "JSON_SR": JsonSr, "PROTOBUF": Protobuf}


# --- sluice's REST API --------------------------------------------------------


def ksql(url, statement, properties=None):
    """POST /ksql; returns the entities, or raises Failure with sluice's error message."""
    body = json.dumps({"ksql": statement, "streamsProperties": properties or {}}).encode()
    request = urllib.request.Request(
        f"{url}/ksql",
        data=body,
        headers={
            "Content-Type": "application/vnd.ksql.v1+json",
            "Accept": "application/vnd.ksql.v1+json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        answer = e.read().decode(errors="replace")
        try:
            answer = json.loads(answer).get("message", answer)
        except ValueError:
            pass
        raise Failure(f"sluice answered HTTP {e.code} to {statement!r}: {answer}") from None


def sql_type(schema):
    """A DESCRIBE field schema as SQL text: STRUCT<NAME STRING, ZIP INTEGER>."""
    kind = schema["type"]
    if kind == "STRUCT":
        return (
            "STRUCT<"
            + ", ".join(f"{f['name']} {sql_type(f['schema'])}" for f in schema["fields"])
            + ">"
        )
    if kind == "ARRAY":
        return f"ARRAY<{sql_type(schema['memberSchema'])}>"
    if kind == "MAP":
        return f"MAP<STRING, {sql_type(schema['memberSchema'])}>"
    if kind == "DECIMAL":
        params = schema.get("parameters") or {}
        return f"DECIMAL({params.get('precision')}, {params.get('scale')})"
    return kind


def bootstrap_servers(url):
    """The Kafka bootstrap servers sluice uses (its embedded broker), from SHOW PROPERTIES."""
    for prop in ksql(url, "SHOW PROPERTIES;")[0]["properties"]:
        if prop["name"] == "bootstrap.servers":
            return prop["value"]
    raise Failure("SHOW PROPERTIES does not list bootstrap.servers")


def same(got, want):
    """Equality that tells booleans from numbers (Python has True == 1) and
    dicts' keys exactly; integers and floats compare by value, as JSON does."""
    if isinstance(got, bool) or isinstance(want, bool):
        return type(got) is type(want) and got == want
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    numbers = (int, float)
    if isinstance(got, numbers) and isinstance(want, numbers):
        return got == want
    return type(got) is type(want) and got == want


# --- one format, end to end -----------------------------------------------------


def create_topic(bootstrap, topic):
    """Creates the input topic on a broker that does not create topics on
    first use (Tansu)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic]
    try:
        future.result(timeout=30)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def run_format(case, url, registry, bootstrap, suffix="", create=False):
    """Produces, runs the query and consumes for one format;
    returns (records produced, records output, mismatch lines)."""
    fmt = case.fmt.lower()
    topic, out_topic = f"sr_compat_{fmt}{suffix}", f"sr_compat_{fmt}{suffix}_out"
    subject, out_subject = f"{topic}-value", f"{out_topic}-value"
    if create:
        create_topic(bootstrap, topic)

    # 1. Produce with the Confluent serializer (auto-registers `<topic>-value`);
    # the broker creates the topic (or create_topic did).
    producer = Producer({"bootstrap.servers": bootstrap})
    serialize_key, serialize_value = StringSerializer(), case.serializer()
    context = SerializationContext(topic, MessageField.VALUE)
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(err)

    rows = input_rows()
    for key, value in rows:
        producer.produce(
            topic,
            key=serialize_key(key),
            value=serialize_value(case.to_wire(value), context),
            on_delivery=delivered,
        )
    if producer.flush(DEADLINE_S) != 0 or errors:
        raise Failure(
            f"producing to {topic}: {len(errors)} errors ({errors[:3]}), "
            f"or not all delivered within {DEADLINE_S} s"
        )

    # 2. Infer the columns from the registry, then run the query.
    ksql(url, f"CREATE STREAM s_{fmt} WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='{case.fmt}');")
    described = ksql(url, f"DESCRIBE s_{fmt};")[0]["sourceDescription"]["fields"]
    columns = ", ".join(f"{f['name']} {sql_type(f['schema'])}" for f in described)
    if columns != case.columns:
        raise Failure(f"DESCRIBE s_{fmt} shows columns\n  {columns}\nexpected\n  {case.columns}")
    extra = ", placed_at, amount" if case.with_logical_types else ""
    ksql(url, QUERY.format(fmt=fmt, FMT=case.fmt, out=out_topic, extra=extra), EARLIEST)

    # 3. Consume the output with the Confluent deserializer, until the
    # expected count arrives or the deadline passes.
    expected = {}
    for _, value in rows:
        out = expected_output(value, case.with_logical_types)
        if out is not None:
            expected[out["ID"]] = out
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"sr_compat_{fmt}_{os.getpid()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([out_topic])
    received = []
    deserialize_value = None
    deadline = time.monotonic() + DEADLINE_S
    try:
        while len(received) < len(expected) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error:
                if error.retriable() or error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    continue
                raise KafkaException(error)
            # Made at the first record: sluice registers the output's schema
            # when the query starts.
            if deserialize_value is None:
                deserialize_value = case.deserializer(out_subject)
            value = deserialize_value(
                msg.value(), SerializationContext(out_topic, MessageField.VALUE)
            )
            received.append(case.from_wire(value))
    finally:
        consumer.close()

    mismatches = []
    arrived = set()
    for value in received:
        key = value.get("ID")
        if key not in expected or key in arrived:
            mismatches.append(f"unexpected record {value}")
        elif not same(value, expected[key]):
            mismatches.append(f"record {key}: got {value}, expected {expected[key]}")
        arrived.add(key)
    missing = sorted(set(expected) - arrived)
    if missing:
        mismatches.append(
            f"{len(missing)} records did not arrive within {DEADLINE_S} s: {missing[:5]}..."
        )

    # 4. The registry holds both subjects; the output's schema has the format's type.
    subjects = registry.get_subjects()
    for s in (subject, out_subject):
        if s not in subjects:
            mismatches.append(f"subject {s} is not in get_subjects(): {subjects}")
    latest = registry.get_latest_version(out_subject)
    if latest.schema.schema_type != case.schema_type:
        mismatches.append(
            f"{out_subject} has schema type {latest.schema.schema_type}, "
            f"expected {case.schema_type}: {latest.schema.schema_str}"
        )
    return len(rows), len(received), mismatches


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ksql_url")
    parser.add_argument("registry_url")
    parser.add_argument("--registry-name", help="names the registry on the summary lines")
    parser.add_argument("--suffix", default="", help="appended to the topic names")
    parser.add_argument(
        "--create-topics",
        action="store_true",
        help="create the input topics first (brokers that do not create them on first use)",
    )
    parser.add_argument(
        "formats", nargs="*", metavar="FORMAT", help=f"one of {', '.join(FORMATS)} (default: all)"
    )
    args = parser.parse_intermixed_args()
    unknown = [f for f in args.formats if f not in FORMATS]
    if unknown:
        parser.error(f"unknown format {unknown[0]!r}; the formats are {', '.join(FORMATS)}")

    registry = SchemaRegistryClient({"url": args.registry_url})
    bootstrap = bootstrap_servers(args.ksql_url)
    where = f" ({args.registry_name})" if args.registry_name else ""
    failed = False
    for fmt in args.formats or FORMATS:
        try:
            produced, output, mismatches = run_format(
                CASES[fmt](registry),
                args.ksql_url,
                registry,
                bootstrap,
                args.suffix,
                args.create_topics,
            )
        except Exception as e:  # one format's failure must not hide the others' results
            print(f"sr-compat {fmt}{where}: FAILED: {type(e).__name__}: {e}", flush=True)
            failed = True
            continue
        for line in mismatches[:10]:
            print(f"  {fmt}: {line}")
        print(
            f"sr-compat {fmt}{where}: produced {produced}, output {output}, "
            f"mismatches {len(mismatches)}",
            flush=True,
        )
        failed = failed or bool(mismatches)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
