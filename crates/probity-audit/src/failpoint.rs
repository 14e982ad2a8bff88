//! Failpoints: deliberate crashes at chosen points, for crash-consistency
//! tests.

/// The environment variable naming the failpoint to trigger.
pub const FAILPOINT_ENV: &str = "PROBITY_FAILPOINT";

/// Whether the failpoint `name` is armed: the environment variable
/// [`FAILPOINT_ENV`] (`PROBITY_FAILPOINT`) equals `name`.
pub fn failpoint_armed(name: &str) -> bool {
    std::env::var_os(FAILPOINT_ENV).is_some_and(|v| v == name)
}

/// Aborts the process, as a crash would (no destructors, no flushing of
/// buffers), if the failpoint `name` is armed; otherwise does nothing.
///
/// This crate's failpoints are `audit.mid-append` (half of the new lines
/// written and fsynced, the rest not) and `audit.after-append` (the lines
/// written and fsynced, the head file not yet updated). Other crates may
/// use the same mechanism and variable with their own names.
pub fn failpoint(name: &str) {
    if failpoint_armed(name) {
        eprintln!("probity: failpoint {name} reached; aborting");
        std::process::abort();
    }
}
