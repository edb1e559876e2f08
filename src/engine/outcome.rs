//! What executing a statement produces, for the shell, the server and the
//! test runner to render.

use arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::plan::select::OutputColumn;
use crate::runtime::io::TopicInfo;

/// A row of SHOW STREAMS / SHOW TABLES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSummary {
    /// Name.
    pub name: String,
    /// STREAM or TABLE.
    pub kind: &'static str,
    /// Topic.
    pub topic: String,
    /// Key format.
    pub key_format: String,
    /// Value format.
    pub value_format: String,
    /// Windowed key.
    pub windowed: bool,
}

/// A row of SHOW QUERIES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySummary {
    /// Query id.
    pub id: String,
    /// RUNNING / ERROR.
    pub state: String,
    /// The sink(s).
    pub sinks: Vec<String>,
    /// The sink topics.
    pub sink_topics: Vec<String>,
    /// The statement.
    pub sql: String,
    /// Records read so far.
    pub records_in: u64,
    /// Records written so far.
    pub records_out: u64,
    /// Why it stopped, when in ERROR.
    pub error: Option<String>,
}

/// DESCRIBE output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDescription {
    /// The summary fields.
    pub summary: SourceSummary,
    /// Columns: name, type, and "KEY"/"PRIMARY KEY"/"HEADERS"/"" .
    pub columns: Vec<(String, String, String)>,
    /// The TIMESTAMP column.
    pub timestamp: Option<String>,
    /// Queries writing it.
    pub write_queries: Vec<String>,
    /// Queries reading it.
    pub read_queries: Vec<String>,
    /// The statement that created it.
    pub sql: String,
    /// Topic partitions (EXTENDED).
    pub partitions: Option<i32>,
    /// Records that failed processing in queries reading it (EXTENDED).
    pub errors: Option<u64>,
    /// EXTENDED: records dropped by the queries writing it because their
    /// window had closed (later than the grace period).
    pub late_records: Option<u64>,
    /// Whether EXTENDED was asked for.
    pub extended: bool,
}

/// A running push query (or PRINT) delivering rows to the caller. Dropping
/// it cancels the query.
pub struct PushStream {
    /// The query id (`transient_<SOURCE>_<n>`).
    pub id: String,
    /// Output columns.
    pub columns: Vec<OutputColumn>,
    /// Batches of rows, until the query ends.
    pub rows: mpsc::Receiver<RecordBatch>,
    /// Cancels the query.
    pub cancel: CancellationToken,
    /// The LIMIT, if any.
    pub limit: Option<u64>,
    /// Resolves when the query's task has ended, with its error if any.
    pub done: tokio::task::JoinHandle<crate::error::Result<()>>,
}

impl Drop for PushStream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The rows of a pull query: a finite result, complete when returned.
#[derive(Debug, Clone)]
pub struct PullResult {
    /// The query id.
    pub id: String,
    /// Output columns, in SELECT order. `is_key` marks the columns ksqlDB
    /// shows as `KEY` in the header: the table's key columns (and, for a
    /// windowed table, `WINDOWSTART` and `WINDOWEND`) selected as they are;
    /// none for a pull query on a stream.
    pub columns: Vec<OutputColumn>,
    /// The rows, in batches of `columns`.
    pub rows: Vec<RecordBatch>,
    /// The final message after the rows: a pull query on a stream ends
    /// with "Query Completed" or "Limit Reached"; one on a table has none.
    pub final_message: Option<&'static str>,
}

impl PullResult {
    /// The number of rows.
    pub fn row_count(&self) -> usize {
        self.rows.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Lines printed by PRINT, until its LIMIT or cancellation.
pub struct PrintStream {
    /// The topic.
    pub topic: String,
    /// One formatted line per record.
    pub lines: mpsc::Receiver<String>,
    /// Cancels the print.
    pub cancel: CancellationToken,
}

impl Drop for PrintStream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The result of one statement.
pub enum Outcome {
    /// DDL and other commands: a message such as "Stream created".
    Message {
        /// What happened.
        message: String,
    },
    /// A persistent query was started.
    QueryStarted {
        /// What happened.
        message: String,
        /// The new query id.
        query_id: String,
    },
    /// SHOW STREAMS / SHOW TABLES.
    Sources {
        /// Whether tables (else streams) were listed.
        tables: bool,
        /// The rows.
        sources: Vec<SourceSummary>,
    },
    /// SHOW TOPICS.
    Topics(Vec<TopicInfo>),
    /// SHOW QUERIES.
    Queries(Vec<QuerySummary>),
    /// SHOW PROPERTIES: name, scope, value.
    Properties(Vec<(String, String, String)>),
    /// SHOW VARIABLES.
    Variables(Vec<(String, String)>),
    /// SHOW TYPES: name and definition of each custom type.
    Types(Vec<(String, String)>),
    /// SHOW FUNCTIONS: name and kind.
    Functions(Vec<(String, String)>),
    /// DESCRIBE.
    Description(Box<SourceDescription>),
    /// EXPLAIN.
    Explain {
        /// The query id, when explaining a running query.
        query_id: Option<String>,
        /// The statement.
        sql: String,
        /// Output columns.
        columns: Vec<OutputColumn>,
        /// The plan, one line per stage.
        plan: Vec<String>,
        /// The streams and tables it reads.
        sources: Vec<String>,
    },
    /// A push query streaming rows.
    Push(PushStream),
    /// The rows of a pull query.
    Pull(PullResult),
    /// PRINT streaming records.
    Print(PrintStream),
}
