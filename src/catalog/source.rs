//! A stream or table: columns, topic and formats.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::format::windowed::WindowedKey;
use crate::format::FormatSpec;
use crate::sql::ast::SourceKind;
use crate::sql::properties::WindowType;
use crate::types::SqlType;

/// The pseudo columns every row carries, with their types.
pub const PSEUDO_COLUMNS: [(&str, SqlType); 3] = [
    ("ROWTIME", SqlType::Bigint),
    ("ROWPARTITION", SqlType::Int),
    ("ROWOFFSET", SqlType::Bigint),
];

/// The window start (epoch ms, BIGINT) of a row of a windowed source.
pub const WINDOW_START: &str = "WINDOWSTART";

/// The window end (epoch ms, BIGINT) of a row of a windowed source.
pub const WINDOW_END: &str = "WINDOWEND";

/// Hidden column of every row: the record's event time (epoch ms), kept for
/// rows whose visible ROWTIME is null (records with a null value).
pub const RECORD_TIME: &str = "$TS";

/// Hidden column of every row: true when the record's value was null (a
/// "null row": its value and pseudo columns are null, its key is kept).
pub const NULL_ROW: &str = "$NULLROW";

/// Hidden column of every row: the record's headers, copied to the records
/// a persistent query derives from it (as Kafka Streams does).
pub const RECORD_HEADERS: &str = "$HEADERS";

/// Where a column's data lives in a Kafka record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnNamespace {
    /// In the record key.
    Key,
    /// In the record value.
    Value,
    /// In the headers: all of them (`None`) or the last with this key.
    Header(Option<String>),
}

/// A column of a stream or table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The name (already case-normalized).
    pub name: String,
    /// The type.
    pub sql_type: SqlType,
    /// Key, value or header.
    pub namespace: ColumnNamespace,
}

impl Column {
    /// The Arrow field of this column (always nullable).
    pub fn field(&self) -> Field {
        Field::new(&self.name, self.sql_type.to_arrow(), true)
    }

    /// True for key columns.
    pub fn is_key(&self) -> bool {
        self.namespace == ColumnNamespace::Key
    }
}

/// The column that carries event time, replacing the record timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampColumn {
    /// The column name.
    pub column: String,
    /// A Java DateTimeFormatter pattern when the column is a STRING.
    pub format: Option<String>,
}

/// The window of a source whose keys are windowed (`WINDOW_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceWindow {
    /// Tumbling, hopping or session.
    pub kind: WindowType,
    /// The window size in ms (`WINDOW_SIZE`); set for time windows, whose
    /// keys carry only the start.
    pub size_ms: Option<u64>,
}

impl SourceWindow {
    /// ksqlDB's name of the window type: `TUMBLING`, `HOPPING`, `SESSION`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            WindowType::Tumbling => "TUMBLING",
            WindowType::Hopping => "HOPPING",
            WindowType::Session => "SESSION",
        }
    }

    /// How the window is written after the key bytes.
    pub fn key_layout(&self) -> WindowedKey {
        WindowedKey::of(self.kind)
    }
}

/// A stream or table registered in the catalog.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name.
    pub name: String,
    /// Stream or table.
    pub kind: SourceKind,
    /// Columns: key columns first, then value and header columns, each in
    /// declaration order.
    pub columns: Vec<Column>,
    /// The Kafka topic.
    pub topic: String,
    /// Key format.
    pub key_format: FormatSpec,
    /// Value format.
    pub value_format: FormatSpec,
    /// The event-time column, if not the record timestamp.
    pub timestamp: Option<TimestampColumn>,
    /// Created with `CREATE SOURCE …`: read-only.
    pub is_source: bool,
    /// The statement that created it.
    pub sql: String,
    /// The persistent query writing it, for C*AS sinks.
    pub created_by: Option<String>,
    /// The window of its keys, when its topic has windowed keys.
    pub window: Option<SourceWindow>,
}

impl Source {
    /// "STREAM" or "TABLE".
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            SourceKind::Stream => "STREAM",
            SourceKind::Table => "TABLE",
        }
    }

    /// Key columns, in order.
    pub fn key_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.is_key())
    }

    /// Value columns, in order.
    pub fn value_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(|c| c.namespace == ColumnNamespace::Value)
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The Arrow schema of the key columns.
    pub fn key_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.key_columns().map(Column::field).collect::<Vec<_>>(),
        ))
    }

    /// The Arrow schema of the value columns.
    pub fn value_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.value_columns().map(Column::field).collect::<Vec<_>>(),
        ))
    }

    /// For a windowed source, the index in [`Source::row_schema`] of
    /// [`WINDOW_START`] ([`WINDOW_END`] follows it): right after the last
    /// key column.
    pub fn window_columns_at(&self) -> Option<usize> {
        self.window?;
        Some(
            self.columns
                .iter()
                .rposition(Column::is_key)
                .map_or(0, |i| i + 1),
        )
    }

    /// The schema a query over this source scans: every column (for a
    /// windowed source, [`WINDOW_START`] and [`WINDOW_END`] right after the
    /// key columns, as ksqlDB places them), then the pseudo columns
    /// ROWTIME, ROWPARTITION, ROWOFFSET, then the hidden [`RECORD_TIME`],
    /// [`NULL_ROW`] and [`RECORD_HEADERS`].
    pub fn row_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self.columns.iter().map(Column::field).collect();
        if let Some(at) = self.window_columns_at() {
            fields.splice(
                at..at,
                [WINDOW_START, WINDOW_END].map(|name| Field::new(name, DataType::Int64, true)),
            );
        }
        fields.extend(
            PSEUDO_COLUMNS
                .iter()
                .map(|(name, t)| Field::new(*name, t.to_arrow(), true)),
        );
        fields.push(Field::new(RECORD_TIME, DataType::Int64, false));
        fields.push(Field::new(NULL_ROW, DataType::Boolean, false));
        fields.push(Field::new(
            RECORD_HEADERS,
            source_headers_type().to_arrow(),
            true,
        ));
        Arc::new(Schema::new(fields))
    }

    /// ksqlDB's schema string, e.g. `` `ID` BIGINT KEY, `NAME` STRING ``.
    pub fn schema_string(&self) -> String {
        self.columns
            .iter()
            .map(|c| {
                let suffix = match (&c.namespace, self.kind) {
                    (ColumnNamespace::Key, SourceKind::Stream) => " KEY".to_string(),
                    (ColumnNamespace::Key, SourceKind::Table) => " PRIMARY KEY".to_string(),
                    (ColumnNamespace::Value, _) => String::new(),
                    (ColumnNamespace::Header(None), _) => " HEADERS".to_string(),
                    (ColumnNamespace::Header(Some(k)), _) => format!(" HEADER('{k}')"),
                };
                format!("`{}` {}{}", c.name, c.sql_type, suffix)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The Arrow type of the HEADERS column: `ARRAY<STRUCT<KEY STRING, VALUE BYTES>>`.
pub fn source_headers_type() -> SqlType {
    SqlType::Array(Box::new(SqlType::Struct(vec![
        ("KEY".into(), SqlType::String),
        ("VALUE".into(), SqlType::Bytes),
    ])))
}
