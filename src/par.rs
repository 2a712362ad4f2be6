//! Bounded fan-out over blocking work: a fixed number of scoped threads take items in order
//! and the results come back in the items' order, whatever order they finished in.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Applies `f` to every item on at most `workers` threads (at least one) and returns the
/// results in the order of `items`. A panic in `f` is propagated when the scope ends.
pub fn map_bounded<T, R, F>(items: &[T], workers: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let workers = workers.clamp(1, items.len().max(1));
    if workers == 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = f(item);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|slot| slot.into_inner().ok().flatten())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u64> = (0..40).collect();
        let out = map_bounded(&items, 7, |&i| {
            std::thread::sleep(Duration::from_millis((40 - i) % 5));
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn no_more_than_the_bound_run_at_once() {
        for (workers, expect) in [(2, 2), (4, 4), (9, 6)] {
            let active = AtomicUsize::new(0);
            let most = AtomicUsize::new(0);
            let out = map_bounded(&[(); 6], workers, |_| {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
                active.fetch_sub(1, Ordering::SeqCst);
                1
            });
            assert_eq!(out, vec![1; 6]);
            assert_eq!(most.load(Ordering::SeqCst), expect, "{workers} workers");
        }
        assert!(map_bounded(&[] as &[u8], 8, |_| 0).is_empty());
    }
}
