//! The Nexmark queries in sluice's ksqlDB dialect, with the sources they
//! read, and the form DataFusion runs for the compute baseline. A query
//! the bench cannot run yet says what it needs; it is reported, never
//! faked.
//!
//! Beside Nexmark's own numbers, `w1`, `w2` and `g1` are aggregations over
//! the bids: a COUNT/SUM per auction in 10-second tumbling windows, a
//! COUNT per auction in hopping windows (q5's first step, as far as ksqlDB
//! can take q5), and the COUNT/SUM without a window. The DataFusion form of
//! a windowed query computes the window start from the event time (`$TS`,
//! the `DATETIME` column's epoch ms, as sluice's operator uses it).

use super::load::TopicLayout;

/// One Nexmark query.
#[derive(Debug, Clone, Copy)]
pub struct NexmarkQuery {
    /// `q0`, `q1`, …
    pub name: &'static str,
    /// What it does.
    pub title: &'static str,
    /// Whether and how sluice runs it.
    pub support: Support,
}

/// Whether sluice runs a query.
#[derive(Debug, Clone, Copy)]
pub enum Support {
    /// A query over `BID`: sluice runs `CREATE STREAM|TABLE … AS <select>`
    /// (as `output` says), DataFusion runs `datafusion` (or `select` when
    /// `None`) over the decoded bids in batch mode.
    Runs {
        /// The SELECT in sluice's ksqlDB dialect.
        select: &'static str,
        /// The same query for DataFusion's SQL, when its text differs.
        datafusion: Option<&'static str>,
        /// What sluice creates, and how its output is checked.
        output: Output,
    },
    /// Not run by the bench yet.
    NotYet {
        /// What sluice (or the bench's baseline) lacks.
        needs: &'static str,
        /// The ksqlDB statement it would run.
        statement: &'static str,
    },
}

/// What a runnable query creates, and how the bench checks its output
/// against DataFusion's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `CREATE STREAM … AS`: a stateless query; sluice writes exactly as
    /// many rows as DataFusion returns.
    Stream,
    /// `CREATE TABLE … AS` with a GROUP BY (`EMIT CHANGES`): sluice writes
    /// an update per group per batch, so the check reads its output topic
    /// back and compares the latest row of each group with DataFusion's
    /// rows, which are one per group. `groups` names the grouping columns
    /// of DataFusion's result (`WINDOWSTART` for the window); its other
    /// columns are compared by name with the table's.
    Table {
        /// DataFusion's grouping columns.
        groups: &'static [&'static str],
        /// More `WITH` properties of the CREATE TABLE, each after a comma
        /// (a key of several columns needs `KEY_FORMAT='JSON'`, as in
        /// ksqlDB).
        with: &'static str,
    },
}

const Q0: &str = "SELECT AUCTION, BIDDER, PRICE, CHANNEL, URL, DATETIME, EXTRA FROM BID";

const Q1: &str = "SELECT AUCTION, BIDDER, 0.908 * PRICE AS PRICE, DATETIME, EXTRA FROM BID";

const Q2: &str = "SELECT AUCTION, PRICE FROM BID WHERE AUCTION % 123 = 0";

const Q14: &str = "SELECT AUCTION, BIDDER, 0.908 * PRICE AS PRICE, \
    CASE WHEN CAST(FORMAT_TIMESTAMP(DATETIME, 'HH') AS INT) >= 8 \
              AND CAST(FORMAT_TIMESTAMP(DATETIME, 'HH') AS INT) <= 18 THEN 'dayTime' \
         WHEN CAST(FORMAT_TIMESTAMP(DATETIME, 'HH') AS INT) <= 6 \
              OR CAST(FORMAT_TIMESTAMP(DATETIME, 'HH') AS INT) >= 20 THEN 'nightTime' \
         ELSE 'otherTime' END AS BIDTIMETYPE, \
    DATETIME, EXTRA, LEN(EXTRA) - LEN(REPLACE(EXTRA, 'c', '')) AS C_COUNTS \
    FROM BID WHERE 0.908 * PRICE > 1000000 AND 0.908 * PRICE < 50000000";

const Q21: &str = "SELECT AUCTION, BIDDER, PRICE, CHANNEL, \
    CASE WHEN LCASE(CHANNEL) = 'apple' THEN '0' \
         WHEN LCASE(CHANNEL) = 'google' THEN '1' \
         WHEN LCASE(CHANNEL) = 'facebook' THEN '2' \
         WHEN LCASE(CHANNEL) = 'baidu' THEN '3' \
         ELSE REGEXP_EXTRACT('(&|^)channel_id=([^&]*)', URL, 2) END AS CHANNEL_ID \
    FROM BID \
    WHERE REGEXP_EXTRACT('(&|^)channel_id=([^&]*)', URL, 2) IS NOT NULL \
       OR LCASE(CHANNEL) IN ('apple', 'google', 'facebook', 'baidu')";

const Q22: &str = "SELECT AUCTION, BIDDER, PRICE, CHANNEL, \
    SPLIT(URL, '/')[4] AS DIR1, SPLIT(URL, '/')[5] AS DIR2, SPLIT(URL, '/')[6] AS DIR3 \
    FROM BID";

const Q7: &str = "SELECT CHANNEL, MAX(PRICE) AS MAXPRICE FROM BID \
    WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY CHANNEL";

const Q7_DATAFUSION: &str = "SELECT CHANNEL, \"$TS\" - \"$TS\" % 10000 AS WINDOWSTART, \
    max(PRICE) AS MAXPRICE FROM BID GROUP BY CHANNEL, \"$TS\" - \"$TS\" % 10000";

const Q17: &str = "SELECT AUCTION, FORMAT_TIMESTAMP(DATETIME, 'yyyy-MM-dd') AS DAY, \
    COUNT(*) AS TOTAL_BIDS, MIN(PRICE) AS MIN_PRICE, MAX(PRICE) AS MAX_PRICE, \
    AVG(PRICE) AS AVG_PRICE, SUM(PRICE) AS SUM_PRICE FROM BID \
    GROUP BY AUCTION, FORMAT_TIMESTAMP(DATETIME, 'yyyy-MM-dd')";

const Q17_DATAFUSION: &str = "SELECT AUCTION, FORMAT_TIMESTAMP(DATETIME, 'yyyy-MM-dd') AS DAY, \
    count(*) AS TOTAL_BIDS, min(PRICE) AS MIN_PRICE, max(PRICE) AS MAX_PRICE, \
    avg(PRICE) AS AVG_PRICE, sum(PRICE) AS SUM_PRICE FROM BID \
    GROUP BY AUCTION, FORMAT_TIMESTAMP(DATETIME, 'yyyy-MM-dd')";

const W1: &str = "SELECT AUCTION, COUNT(*) AS BIDS, SUM(PRICE) AS VOLUME FROM BID \
    WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY AUCTION";

const W1_DATAFUSION: &str = "SELECT AUCTION, \"$TS\" - \"$TS\" % 10000 AS WINDOWSTART, \
    count(*) AS BIDS, sum(PRICE) AS VOLUME FROM BID \
    GROUP BY AUCTION, \"$TS\" - \"$TS\" % 10000";

const W2: &str = "SELECT AUCTION, COUNT(*) AS BIDS FROM BID \
    WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 2 SECONDS) GROUP BY AUCTION";

/// W2 for DataFusion: each bid joined with the five offsets of the hopping
/// windows that hold it (starts aligned to 2 s, newer than 10 s before it).
const W2_DATAFUSION: &str = "SELECT AUCTION, WINDOWSTART, count(*) AS BIDS FROM \
    (SELECT AUCTION, \"$TS\" - \"$TS\" % 2000 - O AS WINDOWSTART FROM BID \
     CROSS JOIN (VALUES (0), (2000), (4000), (6000), (8000)) AS OFFSETS(O)) \
    GROUP BY AUCTION, WINDOWSTART";

const G1: &str = "SELECT AUCTION, COUNT(*) AS BIDS, SUM(PRICE) AS VOLUME FROM BID GROUP BY AUCTION";

const G1_DATAFUSION: &str =
    "SELECT AUCTION, count(*) AS BIDS, sum(PRICE) AS VOLUME FROM BID GROUP BY AUCTION";

/// Every Nexmark query, in order.
pub const QUERIES: &[NexmarkQuery] = &[
    NexmarkQuery {
        name: "q0",
        title: "pass-through: every bid unchanged (source + sink overhead)",
        support: Support::Runs {
            select: Q0,
            datafusion: None,
            output: Output::Stream,
        },
    },
    NexmarkQuery {
        name: "q1",
        title: "projection: each bid's price in euros (x 0.908)",
        support: Support::Runs {
            select: Q1,
            datafusion: None,
            output: Output::Stream,
        },
    },
    NexmarkQuery {
        name: "q2",
        title: "filter: bids on auctions whose id is a multiple of 123",
        support: Support::Runs {
            select: Q2,
            datafusion: None,
            output: Output::Stream,
        },
    },
    NexmarkQuery {
        name: "q3",
        title: "local item suggestion: auction JOIN person on seller",
        support: Support::NotYet {
            needs: "this bench's loading and output checks for more than the bid topic (sluice \
                    runs the join; `sluice bench join` measures q3's join against DataFusion's)",
            statement: "CREATE STREAM NEXMARK_Q3 AS SELECT P.NAME, P.CITY, P.STATE, A.ID \
                FROM AUCTION A JOIN PERSON_TABLE P ON A.SELLER = P.ID \
                WHERE A.CATEGORY = 10 AND P.STATE IN ('OR', 'ID', 'CA');",
        },
    },
    NexmarkQuery {
        name: "q4",
        title: "average closing price per category",
        support: Support::NotYet {
            needs: "a stream-table join and a two-level aggregation (a rewrite in ksqlDB)",
            statement: "-- no direct ksqlDB form",
        },
    },
    NexmarkQuery {
        name: "q5",
        title: "hot items: bids per auction in hopping windows (10 s, advance 2 s)",
        support: Support::NotYet {
            needs: "an aggregation over a windowed table for the max-per-window step, which \
                    ksqlDB does not allow; w2 runs q5's first step (bids per auction per \
                    hopping window)",
            statement: "CREATE TABLE NEXMARK_Q5 AS SELECT AUCTION, COUNT(*) AS NUM FROM BID \
                WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 2 SECONDS) GROUP BY AUCTION;",
        },
    },
    NexmarkQuery {
        name: "q7",
        title: "highest bid per channel in each 10 s tumbling window (ksqlDB form: MAX per \
                key, without Nexmark's join back to the winning bid)",
        support: Support::Runs {
            select: Q7,
            datafusion: Some(Q7_DATAFUSION),
            output: Output::Table {
                groups: &["CHANNEL", "WINDOWSTART"],
                with: "",
            },
        },
    },
    NexmarkQuery {
        name: "q8",
        title: "new users: people who registered and opened an auction within 10 s",
        support: Support::NotYet {
            needs: "this bench's loading and output checks for more than the bid topic (sluice \
                    runs the join; `sluice bench join` measures q8's join against DataFusion's)",
            statement: "CREATE STREAM NEXMARK_Q8 AS SELECT P.ID, P.NAME, A.RESERVE \
                FROM PERSON P JOIN AUCTION A WITHIN 10 SECONDS ON P.ID = A.SELLER;",
        },
    },
    NexmarkQuery {
        name: "q9",
        title: "winning bid of each auction",
        support: Support::NotYet {
            needs: "a stream-table join and an aggregation (a rewrite in ksqlDB)",
            statement: "-- no direct ksqlDB form",
        },
    },
    NexmarkQuery {
        name: "q11",
        title: "user sessions: bids per bidder per session (gap 10 s)",
        support: Support::NotYet {
            needs: "a batch form of session windows to check it against (sluice runs \
                    WINDOW SESSION; DataFusion has no session windows for the baseline)",
            statement: "CREATE TABLE NEXMARK_Q11 AS SELECT BIDDER, COUNT(*) AS BID_COUNT \
                FROM BID WINDOW SESSION (10 SECONDS) GROUP BY BIDDER;",
        },
    },
    NexmarkQuery {
        name: "q12",
        title: "bids per bidder in processing-time windows",
        support: Support::NotYet {
            needs: "processing-time windows, which ksqlDB does not have",
            statement: "-- no direct ksqlDB form",
        },
    },
    NexmarkQuery {
        name: "q14",
        title: "calculation: price in euros, time-of-day category, character count",
        support: Support::Runs {
            select: Q14,
            datafusion: None,
            output: Output::Stream,
        },
    },
    NexmarkQuery {
        name: "q17",
        title: "auction statistics per auction and day: count, min, max, avg, sum",
        support: Support::Runs {
            select: Q17,
            datafusion: Some(Q17_DATAFUSION),
            output: Output::Table {
                groups: &["AUCTION", "DAY"],
                with: ", KEY_FORMAT='JSON'",
            },
        },
    },
    NexmarkQuery {
        name: "q20",
        title: "expand bid with auction: bid JOIN auction, category 10",
        support: Support::NotYet {
            needs: "this bench's loading and output checks for more than the bid topic (sluice \
                    runs the join; `sluice bench join` measures a bid-auction join against \
                    DataFusion's)",
            statement: "CREATE STREAM NEXMARK_Q20 AS SELECT B.AUCTION, B.BIDDER, B.PRICE, \
                B.CHANNEL, B.URL, A.ITEMNAME, A.DESCRIPTION, A.INITIALBID, A.RESERVE, \
                A.EXPIRES, A.SELLER, A.CATEGORY \
                FROM BID B JOIN AUCTION_TABLE A ON B.AUCTION = A.ID WHERE A.CATEGORY = 10;",
        },
    },
    NexmarkQuery {
        name: "q21",
        title: "add channel id: CASE over the channel, else a regular expression on the URL",
        support: Support::Runs {
            select: Q21,
            datafusion: None,
            output: Output::Stream,
        },
    },
    NexmarkQuery {
        name: "q22",
        title: "get URL directories: split the URL by '/'",
        support: Support::Runs {
            select: Q22,
            datafusion: None,
            output: Output::Stream,
        },
    },
    NexmarkQuery {
        name: "w1",
        title: "windowed aggregate: bids and volume per auction in 10 s tumbling windows",
        support: Support::Runs {
            select: W1,
            datafusion: Some(W1_DATAFUSION),
            output: Output::Table {
                groups: &["AUCTION", "WINDOWSTART"],
                with: "",
            },
        },
    },
    NexmarkQuery {
        name: "w2",
        title: "hopping-window aggregate (q5's first step): bids per auction in 10 s windows \
                advancing by 2 s",
        support: Support::Runs {
            select: W2,
            datafusion: Some(W2_DATAFUSION),
            output: Output::Table {
                groups: &["AUCTION", "WINDOWSTART"],
                with: "",
            },
        },
    },
    NexmarkQuery {
        name: "g1",
        title: "aggregate: bids and volume per auction, no window",
        support: Support::Runs {
            select: G1,
            datafusion: Some(G1_DATAFUSION),
            output: Output::Table {
                groups: &["AUCTION"],
                with: "",
            },
        },
    },
];

/// The query named `name` (case-insensitive).
pub fn find(name: &str) -> Option<&'static NexmarkQuery> {
    QUERIES.iter().find(|q| q.name.eq_ignore_ascii_case(name))
}

/// The names of all queries, for messages.
pub fn names() -> String {
    QUERIES
        .iter()
        .map(|q| q.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The DDL declaring the bid stream over `topic` (JSON values, event time
/// from `dateTime`).
pub fn bid_stream_ddl(topic: &str) -> String {
    format!(
        "CREATE STREAM BID (AUCTION BIGINT, BIDDER BIGINT, PRICE BIGINT, CHANNEL STRING, \
         URL STRING, DATETIME TIMESTAMP, EXTRA STRING) \
         WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', TIMESTAMP='DATETIME');"
    )
}

/// DDL for every Nexmark source over `layout`: per-kind topics give the
/// person and auction streams and tables (keyed by id) and the bid stream;
/// one topic gives one stream with every column and the `EVENT_TYPE`
/// discriminator. Printed by `sluice nexmark generate`.
pub fn all_sources_ddl(layout: &TopicLayout) -> String {
    let [person, auction, bid] = match layout {
        TopicLayout::PerKind(topics) => topics,
        TopicLayout::Single(topic) => {
            return format!(
                "CREATE STREAM NEXMARK_EVENTS (EVENT_TYPE INT, ID BIGINT, NAME STRING, \
                 EMAILADDRESS STRING, CREDITCARD STRING, CITY STRING, STATE STRING, \
                 ITEMNAME STRING, DESCRIPTION STRING, INITIALBID BIGINT, RESERVE BIGINT, \
                 EXPIRES TIMESTAMP, SELLER BIGINT, CATEGORY BIGINT, AUCTION BIGINT, \
                 BIDDER BIGINT, PRICE BIGINT, CHANNEL STRING, URL STRING, DATETIME TIMESTAMP, \
                 EXTRA STRING) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', \
                 TIMESTAMP='DATETIME');\n\
                 -- EVENT_TYPE: 0 person, 1 auction, 2 bid"
            )
        }
    };
    let person_columns = "NAME STRING, EMAILADDRESS STRING, CREDITCARD STRING, CITY STRING, \
                          STATE STRING, DATETIME TIMESTAMP, EXTRA STRING";
    let auction_columns = "ITEMNAME STRING, DESCRIPTION STRING, INITIALBID BIGINT, \
                           RESERVE BIGINT, DATETIME TIMESTAMP, EXPIRES TIMESTAMP, \
                           SELLER BIGINT, CATEGORY BIGINT, EXTRA STRING";
    let with = |topic: &str| {
        format!(
            "WITH (KAFKA_TOPIC='{topic}', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON', \
             TIMESTAMP='DATETIME')"
        )
    };
    format!(
        "CREATE STREAM PERSON (ID BIGINT KEY, {person_columns}) {};\n\
         CREATE TABLE PERSON_TABLE (ID BIGINT PRIMARY KEY, {person_columns}) {};\n\
         CREATE STREAM AUCTION (ID BIGINT KEY, {auction_columns}) {};\n\
         CREATE TABLE AUCTION_TABLE (ID BIGINT PRIMARY KEY, {auction_columns}) {};\n\
         {}",
        with(person),
        with(person),
        with(auction),
        with(auction),
        bid_stream_ddl(bid)
    )
}
