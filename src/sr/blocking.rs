//! Waiting from code that may run on a tokio worker: the registry's trait
//! is synchronous, but its callers (REST handlers, the engine) are async.

/// Runs `wait` (blocking I/O, waiting on a reply) so that a multi-threaded
/// tokio runtime moves its other tasks off this worker meanwhile; elsewhere
/// (a plain thread, a blocking task, a current-thread runtime) it simply
/// runs it.
pub(crate) fn block<T>(wait: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}
