//! The runtime: pipelines of streaming operators over Arrow batches, run as
//! tokio tasks between the I/O ports. A query with state runs one task per
//! input partition, its state backed by a changelog partition ([`state`]);
//! persistent queries are kept running through faults ([`supervise`]).

pub mod decode;
pub mod feed;
pub mod io;
pub mod materialized;
pub mod memory;
pub mod operators;
pub mod pipeline;
pub mod processing_log;
pub mod state;
pub mod supervise;
pub mod task;
