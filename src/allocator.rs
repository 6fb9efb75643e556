//! What the tool asks of its allocator, mimalloc (the binary's and the benchmarks' global
//! allocator).

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e`, the same in mimalloc 2
/// and 3): milliseconds before freed memory goes back to the system (default 10).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The environment variable by which mimalloc itself reads that option at start.
const PURGE_DELAY_VARIABLE: &str = "MIMALLOC_PURGE_DELAY";

/// Freed memory goes back to the system at once, for the commands that run the embedded
/// engine, unless `MIMALLOC_PURGE_DELAY` is set (then mimalloc's reading of it stands). Its
/// scans allocate each batch on a reading thread and free it on another; with mimalloc's
/// delay, memory the query no longer held stayed resident: popular_settings on the 37.8 MB
/// generated lake peaked at 285.6-292.5 MB, with no delay at 232.0-243.1 MB, in 13.0-14.0 s
/// instead of 12.2-12.9 s (debug builds; docs/performance.md).
pub fn give_freed_memory_back_at_once() {
    if std::env::var_os(PURGE_DELAY_VARIABLE).is_some() {
        return;
    }
    // SAFETY: sets one of mimalloc's options to a value its documentation allows (0:
    // immediate purging); mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}
