//! The catalog: streams, tables, their columns and formats, custom types,
//! and the persistent queries that read and write them. It does no I/O.

mod source;

pub use source::{
    source_headers_type, Column, ColumnNamespace, Source, SourceWindow, TimestampColumn, NULL_ROW,
    PSEUDO_COLUMNS, RECORD_HEADERS, RECORD_TIME, WINDOW_END, WINDOW_START,
};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::sql::ast::SourceKind;
use crate::types::SqlType;

/// What a persistent query is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryState {
    /// Processing records.
    Running,
    /// Stopped by an error; see the query's error text.
    Error,
}

impl QueryState {
    /// ksqlDB's name of the state.
    pub fn name(&self) -> &'static str {
        match self {
            QueryState::Running => "RUNNING",
            QueryState::Error => "ERROR",
        }
    }
}

/// A persistent query as the catalog knows it.
#[derive(Debug, Clone)]
pub struct QueryInfo {
    /// `CSAS_<SINK>_<n>`, `CTAS_<SINK>_<n>`, `INSERTQUERY_<n>`.
    pub id: String,
    /// The statement text.
    pub sql: String,
    /// The sources it reads.
    pub sources: Vec<String>,
    /// The source it writes.
    pub sink: String,
    /// The sink's topic.
    pub sink_topic: String,
}

/// Streams, tables, types and persistent queries.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    sources: BTreeMap<String, Arc<Source>>,
    queries: BTreeMap<String, QueryInfo>,
    types: BTreeMap<String, SqlType>,
    next_query: u64,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// The source called `name`, if any.
    pub fn source(&self, name: &str) -> Option<&Arc<Source>> {
        self.sources.get(name)
    }

    /// The source called `name`, or an error naming it and the closest
    /// existing name.
    pub fn require_source(&self, name: &str) -> Result<&Arc<Source>> {
        self.sources.get(name).ok_or_else(|| {
            let hint = closest(name, self.sources.keys().map(String::as_str))
                .map(|c| format!(" Did you mean {c}?"))
                .unwrap_or_default();
            Error::user(format!("{} does not exist.{hint}", quote_source_name(name)))
        })
    }

    /// All sources, by name.
    pub fn sources(&self) -> impl Iterator<Item = &Arc<Source>> {
        self.sources.values()
    }

    /// Adds or replaces a source.
    pub fn put_source(&mut self, source: Source) {
        self.sources.insert(source.name.clone(), Arc::new(source));
    }

    /// Removes a source.
    pub fn remove_source(&mut self, name: &str) -> Option<Arc<Source>> {
        self.sources.remove(name)
    }

    /// All persistent queries, by id.
    pub fn queries(&self) -> impl Iterator<Item = &QueryInfo> {
        self.queries.values()
    }

    /// The query with this id.
    pub fn query(&self, id: &str) -> Option<&QueryInfo> {
        self.queries.get(id)
    }

    /// Registers a running query.
    pub fn put_query(&mut self, info: QueryInfo) {
        self.queries.insert(info.id.clone(), info);
    }

    /// Forgets a query.
    pub fn remove_query(&mut self, id: &str) -> Option<QueryInfo> {
        self.queries.remove(id)
    }

    /// The ids of the queries writing `sink`.
    pub fn queries_writing(&self, sink: &str) -> Vec<String> {
        self.queries
            .values()
            .filter(|q| q.sink == sink)
            .map(|q| q.id.clone())
            .collect()
    }

    /// The ids of the queries reading `source`.
    pub fn queries_reading(&self, source: &str) -> Vec<String> {
        self.queries
            .values()
            .filter(|q| q.sources.iter().any(|s| s == source))
            .map(|q| q.id.clone())
            .collect()
    }

    /// Allocates the next query id: `CSAS_<SINK>_<n>`, `CTAS_<SINK>_<n>` or
    /// `INSERTQUERY_<n>`.
    pub fn next_query_id(&mut self, kind: QueryKind) -> String {
        let n = self.next_query;
        self.next_query += 1;
        match kind {
            QueryKind::CreateAs(SourceKind::Stream, sink) => format!("CSAS_{sink}_{n}"),
            QueryKind::CreateAs(SourceKind::Table, sink) => format!("CTAS_{sink}_{n}"),
            QueryKind::Insert => format!("INSERTQUERY_{n}"),
        }
    }

    /// Notes a query id given elsewhere (the command topic): the ids
    /// allocated next are numbered after it.
    pub fn observe_query_id(&mut self, id: &str) {
        if let Some(n) = id.rsplit('_').next().and_then(|n| n.parse::<u64>().ok()) {
            self.next_query = self.next_query.max(n + 1);
        }
    }

    /// A custom type from `CREATE TYPE`.
    pub fn custom_type(&self, name: &str) -> Option<&SqlType> {
        self.types.get(name)
    }

    /// All custom types.
    pub fn custom_types(&self) -> impl Iterator<Item = (&String, &SqlType)> {
        self.types.iter()
    }

    /// Registers a custom type.
    pub fn put_type(&mut self, name: String, data_type: SqlType) {
        self.types.insert(name, data_type);
    }

    /// Removes a custom type.
    pub fn remove_type(&mut self, name: &str) -> Option<SqlType> {
        self.types.remove(name)
    }
}

/// What kind of persistent query an id is for.
pub enum QueryKind<'a> {
    /// CREATE STREAM|TABLE … AS SELECT into the named sink.
    CreateAs(SourceKind, &'a str),
    /// INSERT INTO … SELECT.
    Insert,
}

fn quote_source_name(name: &str) -> String {
    format!("Source {name}")
}

/// The candidate closest to `name` by edit distance, when close enough to be
/// a likely typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let upper = name.to_uppercase();
    candidates
        .map(|c| (levenshtein(&upper, &c.to_uppercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["AMOUNT", "CUSTOMER", "ID"];
        assert_eq!(closest("AMOUNTT", names.iter().copied()), Some("AMOUNT"));
        assert_eq!(closest("customr", names.iter().copied()), Some("CUSTOMER"));
        assert_eq!(closest("ZZZZZZ", names.iter().copied()), None);
    }

    #[test]
    fn windowed_rows_have_window_bounds_after_the_key() {
        use crate::format::{Format, FormatSpec};
        use crate::sql::properties::WindowType;
        let column = |name: &str, namespace| Column {
            name: name.into(),
            sql_type: SqlType::Int,
            namespace,
        };
        let mut source = Source {
            name: "S".into(),
            kind: SourceKind::Table,
            columns: vec![
                column("A", ColumnNamespace::Key),
                column("B", ColumnNamespace::Key),
                column("V", ColumnNamespace::Value),
            ],
            topic: "t".into(),
            key_format: FormatSpec::new(Format::Json),
            value_format: FormatSpec::new(Format::Json),
            timestamp: None,
            is_source: false,
            sql: String::new(),
            created_by: None,
            window: None,
        };
        let names = |s: &Source| -> Vec<String> {
            s.row_schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .take(5)
                .collect()
        };
        assert_eq!(names(&source), ["A", "B", "V", "ROWTIME", "ROWPARTITION"]);
        assert_eq!(source.window_columns_at(), None);
        source.window = Some(SourceWindow {
            kind: WindowType::Session,
            size_ms: None,
        });
        assert_eq!(names(&source), ["A", "B", WINDOW_START, WINDOW_END, "V"]);
        assert_eq!(source.window_columns_at(), Some(2));
        assert_eq!(source.window.map(|w| w.type_name()), Some("SESSION"));
    }
}
