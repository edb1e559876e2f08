//! The runtime: pipelines of streaming operators over Arrow batches, run as
//! tokio tasks between the I/O ports.

pub mod decode;
pub mod io;
pub mod materialized;
pub mod memory;
pub mod operators;
pub mod pipeline;
pub mod processing_log;
pub mod state;
pub mod supervise;
pub mod task;
