//! The statements of sluice's ksqlDB dialect.
//!
//! Expressions are sqlparser's [`Expr`]; everything ksqlDB adds around them
//! (CREATE STREAM … WITH, EMIT CHANGES, WINDOW, PARTITION BY, PRINT, …) is
//! modelled here. Names of sources, columns and properties are already
//! normalized: unquoted identifiers upper-cased, quoted ones kept as written.
//! Inside expressions, unquoted identifiers are upper-cased too (function
//! names are left as written).

use datafusion::sql::sqlparser::ast::Expr;

use crate::error::Location;
use crate::types::SqlType;

/// One statement of a request or script, with its own text.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    /// The statement's text, from its first token to its `;` (inclusive,
    /// when present), as the user wrote it.
    pub text: String,
    /// Where the statement starts in the whole request.
    pub location: Location,
    /// The statement.
    pub statement: Statement,
}

/// A ksqlDB statement.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (cols) WITH (…)`
    CreateSource(CreateSource),
    /// `CREATE [OR REPLACE] STREAM|TABLE [IF NOT EXISTS] name [WITH (…)] AS SELECT …`
    CreateAsSelect(CreateAsSelect),
    /// `INSERT INTO name [WITH (…)] SELECT …`
    InsertSelect(InsertSelect),
    /// `INSERT INTO name [(cols)] VALUES (…)`
    InsertValues(InsertValues),
    /// A push (`EMIT CHANGES`) or pull query.
    Query(Box<Query>),
    /// `SHOW|LIST …`
    Show(Show),
    /// `DESCRIBE …`
    Describe(Describe),
    /// `EXPLAIN statement | query_id`
    Explain(Explain),
    /// `TERMINATE query_id | ALL`
    Terminate(Terminate),
    /// `DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC]`
    Drop(Drop),
    /// `PRINT topic [FROM BEGINNING] [INTERVAL n] [LIMIT n]`
    Print(Print),
    /// `SET 'name' = 'value'`
    SetProperty {
        /// Property name, as written (case kept).
        name: String,
        /// Value, as written.
        value: String,
    },
    /// `UNSET 'name'`
    UnsetProperty {
        /// Property name.
        name: String,
    },
    /// `DEFINE name = 'value'`
    Define {
        /// Variable name (case kept; looked up case-insensitively).
        name: String,
        /// Value.
        value: String,
    },
    /// `UNDEFINE name`
    Undefine {
        /// Variable name.
        name: String,
    },
    /// `CREATE TYPE [IF NOT EXISTS] name AS type`
    CreateType {
        /// Type name.
        name: String,
        /// Whether IF NOT EXISTS was given.
        if_not_exists: bool,
        /// The aliased type.
        data_type: SqlType,
    },
    /// `DROP TYPE [IF EXISTS] name`
    DropType {
        /// Type name.
        name: String,
        /// Whether IF EXISTS was given.
        if_exists: bool,
    },
    /// `ALTER STREAM|TABLE name ADD [COLUMN] col type, …`
    Alter {
        /// Stream or table.
        kind: SourceKind,
        /// Source name.
        name: String,
        /// Added columns.
        columns: Vec<ColumnDef>,
    },
    /// `RUN SCRIPT 'file'` (shell only)
    RunScript {
        /// Path as written.
        path: String,
    },
    /// `ASSERT VALUES name (cols) VALUES (…)`: test files only.
    AssertValues(InsertValues),
    /// `ASSERT NULL VALUES name (key cols) KEY (…)`: a tombstone, test
    /// files only.
    AssertTombstone(InsertValues),
}

/// STREAM or TABLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// An append-only stream.
    Stream,
    /// A changelog materialized by key.
    Table,
}

/// `CREATE [OR REPLACE] [SOURCE] STREAM|TABLE …` with columns.
#[derive(Debug, Clone)]
pub struct CreateSource {
    /// Stream or table.
    pub kind: SourceKind,
    /// `OR REPLACE`
    pub or_replace: bool,
    /// `IF NOT EXISTS`
    pub if_not_exists: bool,
    /// `SOURCE`: read-only (and, for tables, materialized).
    pub is_source: bool,
    /// The source name.
    pub name: String,
    /// Declared columns (may be empty when a schema would be inferred).
    pub columns: Vec<ColumnDef>,
    /// The WITH clause.
    pub properties: Properties,
}

/// A column in `CREATE STREAM|TABLE (…)`.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// Column type.
    pub data_type: SqlType,
    /// KEY, PRIMARY KEY, HEADERS, HEADER('k'), or nothing (a value column).
    pub constraint: ColumnConstraint,
    /// Where the column is declared.
    pub location: Location,
}

/// What a declared column is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnConstraint {
    /// A value column.
    None,
    /// `KEY` (streams).
    Key,
    /// `PRIMARY KEY` (tables).
    PrimaryKey,
    /// `HEADERS`: all headers, `ARRAY<STRUCT<KEY STRING, VALUE BYTES>>`.
    Headers,
    /// `HEADER('key')`: the last header with this key, as BYTES.
    Header(String),
}

/// A literal value of a WITH property.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    /// `'text'`
    String(String),
    /// A number, as written.
    Number(String),
    /// `true` / `false`
    Boolean(bool),
}

impl std::fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropertyValue::String(s) => write!(f, "'{s}'"),
            PropertyValue::Number(n) => f.write_str(n),
            PropertyValue::Boolean(b) => write!(f, "{b}"),
        }
    }
}

/// One `NAME = value` of a WITH clause.
#[derive(Debug, Clone)]
pub struct Property {
    /// Upper-cased property name.
    pub name: String,
    /// Its value.
    pub value: PropertyValue,
    /// Where the name is written.
    pub location: Location,
}

/// A WITH clause, in the order written. [`crate::sql::properties`] turns it
/// into typed settings.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    /// The entries.
    pub entries: Vec<Property>,
}

/// `CREATE … AS SELECT`.
#[derive(Debug, Clone)]
pub struct CreateAsSelect {
    /// Stream or table.
    pub kind: SourceKind,
    /// `OR REPLACE`
    pub or_replace: bool,
    /// `IF NOT EXISTS`
    pub if_not_exists: bool,
    /// The sink name.
    pub name: String,
    /// The WITH clause.
    pub properties: Properties,
    /// The query.
    pub query: Box<Query>,
}

/// `INSERT INTO name [WITH (…)] SELECT …`.
#[derive(Debug, Clone)]
pub struct InsertSelect {
    /// The target stream.
    pub target: String,
    /// The WITH clause (`QUERY_ID`).
    pub properties: Properties,
    /// The query.
    pub query: Box<Query>,
}

/// `INSERT INTO name [(cols)] VALUES (…)`.
#[derive(Debug, Clone)]
pub struct InsertValues {
    /// The target source.
    pub target: String,
    /// The named columns, when given.
    pub columns: Option<Vec<String>>,
    /// The values, one expression per column.
    pub values: Vec<Expr>,
}

/// A SELECT statement in ksqlDB's shape.
#[derive(Debug, Clone)]
pub struct Query {
    /// The projection.
    pub select: Vec<SelectItem>,
    /// The first source.
    pub from: Relation,
    /// Joined sources, in order.
    pub joins: Vec<Join>,
    /// `WINDOW …`
    pub window: Option<WindowSpec>,
    /// `WHERE …`
    pub selection: Option<Expr>,
    /// `GROUP BY …`
    pub group_by: Vec<Expr>,
    /// `PARTITION BY …` (`PARTITION BY NULL` is a single null literal).
    pub partition_by: Vec<Expr>,
    /// `HAVING …`
    pub having: Option<Expr>,
    /// `EMIT CHANGES|FINAL`
    pub emit: Option<Emit>,
    /// `LIMIT n`
    pub limit: Option<u64>,
    /// Where the SELECT keyword is.
    pub location: Location,
}

/// One item of the projection.
#[derive(Debug, Clone)]
pub enum SelectItem {
    /// `expr [AS alias]`
    Expr {
        /// The expression.
        expr: Expr,
        /// The alias, when given.
        alias: Option<String>,
        /// Where the expression starts.
        location: Location,
    },
    /// `*`
    Wildcard,
    /// `source.*`
    QualifiedWildcard(String),
    /// `expr->*`: all fields of a struct.
    StructWildcard(Expr),
}

/// A source in FROM or JOIN.
#[derive(Debug, Clone)]
pub struct Relation {
    /// Source name.
    pub name: String,
    /// Alias, when given.
    pub alias: Option<String>,
    /// Where the name is written.
    pub location: Location,
}

/// The kind of a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// `[INNER] JOIN`
    Inner,
    /// `LEFT [OUTER] JOIN`
    Left,
    /// `RIGHT [OUTER] JOIN`
    Right,
    /// `FULL [OUTER] JOIN`
    Full,
}

/// `… JOIN relation [WITHIN …] ON expr`.
#[derive(Debug, Clone)]
pub struct Join {
    /// The join kind.
    pub kind: JoinKind,
    /// The joined source.
    pub relation: Relation,
    /// `WITHIN n unit` or `WITHIN (before, after)`, with an optional grace period.
    pub within: Option<Within>,
    /// The join condition.
    pub on: Expr,
}

/// A stream-stream join window, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Within {
    /// How far back.
    pub before_ms: u64,
    /// How far forward.
    pub after_ms: u64,
    /// `GRACE PERIOD`
    pub grace_ms: Option<u64>,
}

/// `WINDOW TUMBLING|HOPPING|SESSION (…)`; durations in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// The window kind and its sizes.
    pub kind: WindowKind,
    /// `RETENTION`
    pub retention_ms: Option<u64>,
    /// `GRACE PERIOD`
    pub grace_ms: Option<u64>,
}

/// The shape of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// `TUMBLING (SIZE n unit)`
    Tumbling {
        /// Window size.
        size_ms: u64,
    },
    /// `HOPPING (SIZE n unit, ADVANCE BY m unit)`
    Hopping {
        /// Window size.
        size_ms: u64,
        /// Advance.
        advance_ms: u64,
    },
    /// `SESSION (n unit)`
    Session {
        /// Inactivity gap.
        gap_ms: u64,
    },
}

/// `EMIT CHANGES` or `EMIT FINAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// Every update.
    Changes,
    /// One row per window, when it closes.
    Final,
}

/// What SHOW lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowTarget {
    /// `STREAMS`
    Streams,
    /// `TABLES`
    Tables,
    /// `[ALL] TOPICS`
    Topics {
        /// `ALL`: include internal topics.
        all: bool,
    },
    /// `QUERIES`
    Queries,
    /// `PROPERTIES`
    Properties,
    /// `FUNCTIONS`
    Functions,
    /// `TYPES`
    Types,
    /// `VARIABLES`
    Variables,
}

/// `SHOW|LIST target [EXTENDED]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Show {
    /// What to list.
    pub target: ShowTarget,
    /// `EXTENDED`
    pub extended: bool,
}

/// What DESCRIBE describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescribeTarget {
    /// A stream or table.
    Source(String),
    /// `DESCRIBE STREAMS`
    Streams,
    /// `DESCRIBE TABLES`
    Tables,
    /// `DESCRIBE FUNCTION name`
    Function(String),
}

/// `DESCRIBE target [EXTENDED]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Describe {
    /// What to describe.
    pub target: DescribeTarget,
    /// `EXTENDED`
    pub extended: bool,
}

/// What EXPLAIN explains.
#[derive(Debug, Clone)]
pub enum Explain {
    /// A running query by id.
    QueryId(String),
    /// A statement, planned but not run.
    Statement(Box<ParsedStatement>),
}

/// `TERMINATE id | ALL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminate {
    /// One query, by id (upper-cased unless quoted).
    Query(String),
    /// Every persistent query.
    All,
}

/// `DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drop {
    /// Stream or table.
    pub kind: SourceKind,
    /// `IF EXISTS`
    pub if_exists: bool,
    /// Source name.
    pub name: String,
    /// `DELETE TOPIC`
    pub delete_topic: bool,
}

/// `PRINT topic [FROM BEGINNING] [INTERVAL n] [LIMIT n]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Print {
    /// Topic name: as written when quoted (`'t'` or backticks), else as
    /// written too (topic names are case-sensitive; ksqlDB tries the
    /// upper-cased name when the written one does not exist).
    pub topic: String,
    /// `FROM BEGINNING`
    pub from_beginning: bool,
    /// `INTERVAL n` / `SAMPLE n`: print every n-th record.
    pub interval: Option<u64>,
    /// `LIMIT n`
    pub limit: Option<u64>,
}
