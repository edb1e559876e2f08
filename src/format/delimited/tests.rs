//! Tests of the DELIMITED format.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float64Array, Int32Array, StringArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::format::{registry, Decoded, Encoded, Format, FormatSpec, Part};

fn schema(columns: &[(&str, DataType)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ))
}

fn spec(delimiter: Option<char>) -> FormatSpec {
    FormatSpec {
        delimiter,
        ..FormatSpec::new(Format::Delimited)
    }
}

fn decode(spec: &FormatSpec, schema: &SchemaRef, payloads: &[Option<&str>]) -> Decoded {
    let dec = registry::decoder(spec, Part::Value, Arc::clone(schema)).unwrap();
    let payloads: Vec<Option<&[u8]>> = payloads.iter().map(|p| p.map(str::as_bytes)).collect();
    let out = dec.decode(&payloads).unwrap();
    for (c, f) in out.columns.iter().zip(schema.fields()) {
        assert_eq!(c.data_type(), f.data_type());
        assert_eq!(c.len(), payloads.len());
    }
    out
}

fn encode(spec: &FormatSpec, part: Part, schema: &SchemaRef, columns: &[ArrayRef]) -> Encoded {
    registry::encoder(spec, part, Arc::clone(schema))
        .unwrap()
        .encode(columns)
        .unwrap()
}

fn texts(encoded: &Encoded) -> Vec<Option<String>> {
    (0..encoded.len())
        .map(|i| {
            encoded
                .get(i)
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
        })
        .collect()
}

fn row(decoded: &Decoded, row: usize) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    decoded
        .columns
        .iter()
        .map(|c| {
            ArrayFormatter::try_new(c.as_ref(), &options)
                .unwrap()
                .value(row)
                .to_string()
        })
        .collect()
}

fn every_type() -> SchemaRef {
    schema(&[
        ("B", DataType::Boolean),
        ("I", DataType::Int32),
        ("L", DataType::Int64),
        ("D", DataType::Float64),
        ("DEC", DataType::Decimal128(6, 4)),
        ("S", DataType::Utf8),
        ("BY", DataType::Binary),
        ("DT", DataType::Date32),
        ("T", DataType::Time32(TimeUnit::Millisecond)),
        ("TS", DataType::Timestamp(TimeUnit::Millisecond, None)),
    ])
}

#[test]
fn decodes_every_type_by_position() {
    let out = decode(
        &spec(None),
        &every_type(),
        &[
            Some(
                "TRUE,-7,9007199254740993,1.5E3,12.5,\"a, \"\"b\"\"\",AAEC,-10,1000,1700000000123",
            ),
            Some(",,,,,,,,,"),
            Some("false,\"1\",2,NaN,.5, x ,,0,0,0"),
        ],
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        row(&out, 0),
        [
            "true",
            "-7",
            "9007199254740993",
            "1500.0",
            "12.5000",
            "a, \"b\"",
            "000102",
            "1969-12-22",
            "00:00:01",
            "2023-11-14T22:13:20.123"
        ]
    );
    assert!(row(&out, 1).iter().all(|c| c == "NULL"));
    assert_eq!(
        row(&out, 2)[..6],
        ["false", "1", "2", "NaN", "0.5000", " x "]
    );
}

#[test]
fn round_trips_and_writes_like_ksqldb() {
    let s = every_type();
    let out = decode(
        &spec(None),
        &s,
        &[
            Some("true,1,2,100.0,12.0,plain,AAEC,3,4,5"),
            Some("false,-1,-2,1.0E10,-0.5,\"has,comma\",,,,"),
        ],
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let encoded = encode(&spec(None), Part::Value, &s, &out.columns);
    assert_eq!(
        texts(&encoded),
        [
            Some("true,1,2,100.0,12.0000,plain,AAEC,3,4,5".into()),
            Some("false,-1,-2,1.0E10,-0.5000,\"has,comma\",,,,".into()),
        ]
    );
    let payloads: Vec<_> = texts(&encoded).into_iter().flatten().collect();
    let again = decode(
        &spec(None),
        &s,
        &payloads
            .iter()
            .map(|p| Some(p.as_str()))
            .collect::<Vec<_>>(),
    );
    assert_eq!(row(&again, 1), row(&out, 1));
}

#[test]
fn quoting_follows_commons_csv() {
    let s = schema(&[
        ("A", DataType::Utf8),
        ("B", DataType::Utf8),
        ("C", DataType::Int32),
    ]);
    let a: ArrayRef = Arc::new(StringArray::from(vec![
        Some("-1"),
        Some(""),
        None,
        Some("x"),
    ]));
    let b: ArrayRef = Arc::new(StringArray::from(vec![
        Some("-1"),
        Some(" pad "),
        Some("q\"q"),
        Some(""),
    ]));
    let c: ArrayRef = Arc::new(Int32Array::from(vec![Some(-3), None, Some(4), None]));
    let encoded = encode(&spec(None), Part::Value, &s, &[a, b, c]);
    assert_eq!(
        texts(&encoded),
        [
            Some(r#""-1",-1,-3"#.into()),
            Some(r#"""," pad ","#.into()),
            Some(r#","q""q",4"#.into()),
            Some("x,,".into()),
        ]
    );
    // A negative first field is quoted, and reads back.
    let s1 = schema(&[("N", DataType::Int32)]);
    let n: ArrayRef = Arc::new(Int32Array::from(vec![-10]));
    let encoded = encode(&spec(None), Part::Value, &s1, &[n]);
    assert_eq!(texts(&encoded), [Some("\"-10\"".into())]);
    let back = decode(&spec(None), &s1, &[Some("\"-10\"")]);
    assert_eq!(row(&back, 0), ["-10"]);
}

#[test]
fn delimiters_are_configurable() {
    let s = schema(&[("A", DataType::Utf8), ("B", DataType::Int32)]);
    for d in ['|', '\t', ' ', '§'] {
        let payload = format!("x,y{d}7");
        let out = decode(&spec(Some(d)), &s, &[Some(&payload)]);
        assert!(out.errors.is_empty(), "{d:?}: {:?}", out.errors);
        assert_eq!(row(&out, 0), ["x,y", "7"]);
        let encoded = encode(&spec(Some(d)), Part::Value, &s, &out.columns);
        let quoted = format!("x,y{d}7");
        assert_eq!(texts(&encoded), [Some(quoted)]);
    }
    let a: ArrayRef = Arc::new(StringArray::from(vec!["p|q"]));
    let b: ArrayRef = Arc::new(Int32Array::from(vec![1]));
    let encoded = encode(&spec(Some('|')), Part::Value, &s, &[a, b]);
    assert_eq!(texts(&encoded), [Some("\"p|q\"|1".into())]);
}

#[test]
fn bad_records_are_row_errors() {
    let s = schema(&[
        ("ID", DataType::Int64),
        ("AGE", DataType::Int32),
        ("OK", DataType::Boolean),
    ]);
    let out = decode(
        &spec(None),
        &s,
        &[
            Some("1,2,true"),
            Some("1,2"),
            Some("1,2,true,4"),
            Some("1,x,true"),
            Some("1,3000000000,true"),
            Some("1,2,yes"),
            Some("1,\"2,true"),
            Some(""),
            Some("5,6,false"),
        ],
    );
    let reasons: Vec<_> = out
        .errors
        .iter()
        .map(|e| (e.row, e.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                1,
                "Column count mismatch on deserialization: expected 3 fields, got 2"
            ),
            (
                2,
                "Column count mismatch on deserialization: expected 3 fields, got 4"
            ),
            (
                3,
                "Can't parse field 2 as column `AGE` INTEGER: not an integer"
            ),
            (
                4,
                "Can't parse field 2 as column `AGE` INTEGER: out of range"
            ),
            (
                5,
                "Can't parse field 3 as column `OK` BOOLEAN: expected true or false"
            ),
            (6, "EOF reached before the quoted field closed"),
            (
                7,
                "Column count mismatch on deserialization: expected 3 fields, got 0"
            ),
        ]
    );
    assert_eq!(row(&out, 0), ["1", "2", "true"]);
    assert_eq!(row(&out, 8), ["5", "6", "false"]);
    for r in 1..8 {
        assert_eq!(row(&out, r), ["NULL", "NULL", "NULL"], "row {r}");
    }
}

#[test]
fn values_that_do_not_fit_are_row_errors() {
    let s = schema(&[
        ("DEC", DataType::Decimal128(4, 2)),
        ("T", DataType::Time32(TimeUnit::Millisecond)),
        ("BY", DataType::Binary),
    ]);
    let out = decode(
        &spec(None),
        &s,
        &[Some("1.234,,"), Some(",-1,"), Some(",,%%%")],
    );
    let reasons: Vec<_> = out.errors.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons[0],
        "Can't parse field 1 as column `DEC` DECIMAL(4, 2): \
         Cannot fit decimal '1.234' into DECIMAL(4, 2) without rounding"
    );
    assert!(reasons[1].contains("TIME must be milliseconds of the day"));
    assert!(reasons[2].contains("not a valid Base64"));
}

#[test]
fn single_columns_and_null_rows() {
    let s = schema(&[("S", DataType::Utf8)]);
    // An empty payload is a single null column; malformed UTF-8 is kept
    // with replacement characters, as Java reads it.
    let dec = registry::decoder(&spec(None), Part::Value, Arc::clone(&s)).unwrap();
    let out = dec
        .decode(&[Some(b""), None, Some(&[b'o', 0xff, b'k'])])
        .unwrap();
    assert!(out.errors.is_empty());
    assert_eq!(row(&out, 0), ["NULL"]);
    assert_eq!(row(&out, 1), ["NULL"]);
    assert_eq!(out.columns[0].as_string::<i32>().value(2), "o\u{fffd}k");

    // A null value column is an empty payload; a null key is a null key.
    let col: ArrayRef = Arc::new(StringArray::from(vec![Some("v"), None]));
    let value = encode(&spec(None), Part::Value, &s, &[Arc::clone(&col)]);
    assert_eq!(texts(&value), [Some("v".into()), Some("".into())]);
    let key = encode(&spec(None), Part::Key, &s, &[col]);
    assert_eq!(texts(&key), [Some("v".into()), None]);

    let two = schema(&[("K1", DataType::Int32), ("K2", DataType::Boolean)]);
    let k1: ArrayRef = Arc::new(Int32Array::from(vec![None, Some(1), None]));
    let k2: ArrayRef = Arc::new(BooleanArray::from(vec![None, None, Some(true)]));
    let key = encode(&spec(None), Part::Key, &two, &[k1, k2]);
    assert_eq!(texts(&key), [None, Some("1,".into()), Some(",true".into())]);
}

#[test]
fn numbers_print_as_ksqldb_prints_them() {
    let s = schema(&[
        ("D", DataType::Float64),
        ("DEC", DataType::Decimal128(10, 3)),
    ]);
    let d: ArrayRef = Arc::new(Float64Array::from(vec![4.9e-324, 0.001, 12345678.9]));
    let dec: ArrayRef = Arc::new(
        Decimal128Array::from(vec![1, -1500, 0])
            .with_precision_and_scale(10, 3)
            .unwrap(),
    );
    let encoded = encode(&spec(None), Part::Value, &s, &[d, dec]);
    assert_eq!(
        texts(&encoded),
        [
            Some("4.9E-324,0.001".into()),
            Some("0.001,-1.500".into()),
            Some("1.23456789E7,0.000".into()),
        ]
    );
}

#[test]
fn validation_rejects_nested_types_and_wrapping() {
    let err = |spec: &FormatSpec, s: &SchemaRef| {
        registry::validate(spec, Part::Key, s)
            .unwrap_err()
            .to_string()
    };
    let list = schema(&[(
        "K",
        DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
    )]);
    assert_eq!(
        err(&spec(None), &list),
        "The 'DELIMITED' format does not support type 'ARRAY', column: `K`"
    );
    let st = schema(&[(
        "K",
        DataType::Struct(Fields::from(vec![Field::new("F", DataType::Int32, true)])),
    )]);
    assert_eq!(
        err(&spec(None), &st),
        "The 'DELIMITED' format does not support type 'STRUCT', column: `K`"
    );
    assert!(registry::decoder(&spec(None), Part::Key, st).is_err());
    let wrapped = FormatSpec {
        wrap_single_value: Some(true),
        ..spec(None)
    };
    let one = schema(&[("V", DataType::Int32)]);
    assert_eq!(
        err(&wrapped, &one),
        "Format 'DELIMITED' does not support 'WRAP_SINGLE_VALUE' set to 'true'."
    );
    assert!(err(&spec(Some('"')), &one).starts_with("Invalid delimiter"));
    let unwrapped = FormatSpec {
        wrap_single_value: Some(false),
        ..spec(None)
    };
    registry::validate(&unwrapped, Part::Value, &one).unwrap();
    registry::validate(&spec(None), Part::Value, &every_type()).unwrap();
}

/// Every truncation and many byte flips of a record: decoding must never
/// panic, and every row is either decoded or reported.
#[test]
fn mangled_records_never_panic() {
    let s = every_type();
    let base: &[u8] = b"true,-7,9,1.5E3,12.5,\"a, \"\"b\"\"\",AAEC,-10,1000,1700000000123";
    let mut mangled: Vec<Vec<u8>> = (0..base.len()).map(|i| base[..i].to_vec()).collect();
    let mut seed: u32 = 777;
    for _ in 0..2000 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let mut m = base.to_vec();
        let at = (seed as usize >> 8) % m.len();
        m[at] = (seed >> 16) as u8;
        mangled.push(m);
    }
    let payloads: Vec<Option<&[u8]>> = mangled.iter().map(|m| Some(m.as_slice())).collect();
    for d in [',', '"', '§'] {
        let dec = registry::decoder(&spec(Some(d)), Part::Value, Arc::clone(&s)).unwrap();
        let out = dec.decode(&payloads).unwrap();
        assert!(out.columns.iter().all(|c| c.len() == payloads.len()));
        for e in &out.errors {
            assert!(out.columns.iter().all(|c| c.is_null(e.row)));
        }
    }
}
