//! Many inputs on several threads, their results handed on in input order.
//!
//! `ddb-lake normalize` flattens and compresses the events of a file on every core and writes
//! their objects in the file's order from the calling thread, so a lake written with many
//! threads is the lake one thread writes, byte for byte (an object key that two events
//! share is written last by the later one, as in a serial loop).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex, PoisonError};

/// Results done and not yet handed on, per thread: enough to keep every thread busy while
/// the calling thread writes, few enough to bound memory (each is one event's objects).
pub const RESULTS_PER_JOB: usize = 2;

/// Runs `work` on every item of `items` on up to `jobs` threads and hands each result to
/// `consume` on the calling thread, in the items' order. At most `jobs` ×
/// [`RESULTS_PER_JOB`] results are done and not yet consumed, so memory stays bounded
/// whatever the number of items. Once any work fails no new item starts (work already
/// running finishes), and the first error in item order is returned after every earlier
/// result has been consumed, as a serial loop would end; the first error `consume` returns
/// ends the run too. With one job the items are worked on the calling thread, one after
/// another.
pub fn in_order<T, R, E>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<R, E> + Sync,
    mut consume: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let jobs = jobs.clamp(1, items.len().max(1));
    if jobs == 1 {
        for item in items {
            consume(work(item)?)?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // Results that may still be started: taken before an item is, given back once consumed.
    let free = (Mutex::new(jobs * RESULTS_PER_JOB), Condvar::new());
    let lock = || free.0.lock().unwrap_or_else(PoisonError::into_inner);
    let (tx, rx) = mpsc::channel::<(usize, Result<R, E>)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, stop, free, lock, work) = (&next, &stop, &free, &lock, &work);
            scope.spawn(move || loop {
                {
                    let mut slots = lock();
                    while *slots == 0 && !stop.load(Ordering::SeqCst) {
                        slots = free.1.wait(slots).unwrap_or_else(PoisonError::into_inner);
                    }
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    *slots -= 1;
                }
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= items.len() {
                    return;
                }
                let result = work(&items[n]);
                if result.is_err() {
                    stop.store(true, Ordering::SeqCst);
                    free.1.notify_all();
                }
                if tx.send((n, result)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut done = BTreeMap::new();
        let mut wanted = 0;
        let outcome = loop {
            if wanted == items.len() {
                break Ok(());
            }
            // Every sender gone before the last item: a worker panicked (the scope re-raises it).
            let Ok((n, result)) = rx.recv() else { break Ok(()) };
            done.insert(n, result);
            let mut failed = None;
            while let Some(result) = done.remove(&wanted) {
                wanted += 1;
                let handed = result.and_then(&mut consume);
                *lock() += 1;
                free.1.notify_one();
                if let Err(e) = handed {
                    failed = Some(e);
                    break;
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
        };
        stop.store(true, Ordering::SeqCst);
        free.1.notify_all();
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Work that takes longer for some items, so that they finish out of order.
    fn uneven(n: &u64) -> Result<u64, String> {
        std::thread::sleep(std::time::Duration::from_micros((n * 7919) % 13 * 100));
        Ok(n * n)
    }

    #[test]
    fn results_come_in_item_order_whatever_the_jobs() {
        let items: Vec<u64> = (0..300).collect();
        let want: Vec<u64> = items.iter().map(|n| n * n).collect();
        for jobs in [1, 2, 3, 8, 1000] {
            let mut got = Vec::new();
            in_order(&items, jobs, uneven, |r| {
                got.push(r);
                Ok::<_, String>(())
            })
            .unwrap();
            assert_eq!(got, want, "{jobs} jobs");
        }
        in_order(&[] as &[u64], 4, uneven, |_| Err("nothing to consume".to_owned())).unwrap();
    }

    #[test]
    fn at_most_a_bounded_number_of_results_wait() {
        let items: Vec<u64> = (0..200).collect();
        let (started, consumed) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let most = AtomicUsize::new(0);
        in_order(
            &items,
            3,
            |n| {
                let ahead = started.fetch_add(1, Ordering::SeqCst) + 1 - consumed.load(Ordering::SeqCst);
                most.fetch_max(ahead, Ordering::SeqCst);
                uneven(n)
            },
            |_| {
                // A slow consumer: the workers would run far ahead without the bound.
                std::thread::sleep(std::time::Duration::from_micros(300));
                consumed.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(())
            },
        )
        .unwrap();
        assert!(most.load(Ordering::SeqCst) <= 3 * RESULTS_PER_JOB, "{} ahead", most.load(Ordering::SeqCst));
        assert!(most.load(Ordering::SeqCst) > 1, "the jobs did run side by side");
    }

    #[test]
    fn no_item_starts_after_one_failed() {
        // Item 0 is slow; item 1 fails at once, while item 0 still runs: nothing after it starts.
        let started = AtomicUsize::new(0);
        let items: Vec<u64> = (0..50).collect();
        let e = in_order(
            &items,
            2,
            |n| {
                started.fetch_add(1, Ordering::SeqCst);
                match n {
                    0 => {
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        Ok(0)
                    }
                    1 => Err("item 1".to_owned()),
                    n => Ok(*n),
                }
            },
            |_| Ok(()),
        )
        .unwrap_err();
        assert_eq!((e.as_str(), started.load(Ordering::SeqCst)), ("item 1", 2));
    }

    #[test]
    fn the_first_error_in_item_order_ends_the_run_after_every_earlier_result() {
        let items: Vec<u64> = (0..100).collect();
        for jobs in [1, 2, 4] {
            let mut got = Vec::new();
            let e = in_order(
                &items,
                jobs,
                |n| if *n == 40 || *n == 70 { Err(format!("item {n}")) } else { uneven(n) },
                |r| {
                    got.push(r);
                    Ok(())
                },
            )
            .unwrap_err();
            assert_eq!(e, "item 40", "{jobs} jobs");
            assert_eq!(got, (0..40).map(|n| n * n).collect::<Vec<_>>(), "{jobs} jobs");
            let mut count = 0;
            let e = in_order(&items, jobs, uneven, |_| {
                count += 1;
                if count == 10 {
                    Err("the consumer failed".to_owned())
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
            assert_eq!((e.as_str(), count), ("the consumer failed", 10));
        }
    }
}
