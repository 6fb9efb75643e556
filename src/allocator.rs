//! What the tool asks of its allocator, mimalloc (the binary's and the benchmarks' global
//! allocator).

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e`, the same in mimalloc 2
/// and 3): milliseconds before freed memory goes back to the system (default 10).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The environment variable by which mimalloc itself reads that option at start.
const PURGE_DELAY_VARIABLE: &str = "MIMALLOC_PURGE_DELAY";

/// What the commands that run the embedded engine (`sql`, `report`, `demo`, `compact`, and the
/// engine benchmark's children) ask of memory before they start it: freed memory back at once
/// and no transparent huge pages.
pub fn for_the_embedded_engine() {
    give_freed_memory_back_at_once();
    no_transparent_huge_pages();
}

/// Freed memory goes back to the system at once, for the commands that run the embedded
/// engine, unless `MIMALLOC_PURGE_DELAY` is set (then mimalloc's reading of it stands). Its
/// scans allocate each batch on a reading thread and free it on another; with mimalloc's
/// delay, memory the query no longer held stayed resident: popular_settings on the 37.8 MB
/// generated lake peaked at 285.6-292.5 MB, with no delay at 232.0-243.1 MB, in 13.0-14.0 s
/// instead of 12.2-12.9 s (debug builds; docs/performance.md).
fn give_freed_memory_back_at_once() {
    if std::env::var_os(PURGE_DELAY_VARIABLE).is_some() {
        return;
    }
    // SAFETY: sets one of mimalloc's options to a value its documentation allows (0:
    // immediate purging); mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// The environment variable by which mimalloc reads whether it may use transparent huge pages.
const ALLOW_THP_VARIABLE: &str = "MIMALLOC_ALLOW_THP";

/// No transparent huge pages for this process, for the commands that run the embedded engine,
/// unless `MIMALLOC_ALLOW_THP` is set (then mimalloc's reading of it stands): what mimalloc
/// does itself at start when that variable is 0 (`prctl(PR_SET_THP_DISABLE)`; the option
/// cannot be set from `main`, after mimalloc started). mimalloc asks for huge pages
/// (`madvise(MADV_HUGEPAGE)`) for the memory it maps, and with the engine's memory given back
/// at once ([`give_freed_memory_back_at_once`]) the kernel zeroed and held 2 MiB pages that
/// the scans' batches use a fraction of: without them the questions of the 1 GB generated
/// lake peaked 11-24% lower (popular_settings 326 -> 282 MB, most_changed_settings 292 ->
/// 223 MB), in the same time or less (docs/performance.md).
fn no_transparent_huge_pages() {
    if std::env::var_os(ALLOW_THP_VARIABLE).is_some() {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes integers only (no memory is passed); it
    // sets a flag of this process, and its result (an error on a kernel without it) is only
    // a missed saving, so it is not looked at.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The kernel's word on this process (`THP_enabled` in /proc/self/status, Linux 5.0+).
    fn thp_enabled() -> String {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("THP_enabled:")).expect("a kernel with THP_enabled");
        line["THP_enabled:".len()..].trim().to_owned()
    }

    #[test]
    fn the_engines_process_asks_for_no_transparent_huge_pages() {
        if std::env::var_os(super::ALLOW_THP_VARIABLE).is_some() {
            panic!("unset {} to run this test: it decides whether the call does anything", super::ALLOW_THP_VARIABLE);
        }
        // Allowed first, whatever the process inherited (the flag passes to children).
        // SAFETY: as in no_transparent_huge_pages, integers only.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(thp_enabled(), "1");
        super::no_transparent_huge_pages();
        assert_eq!(thp_enabled(), "0");
    }
}
