//! Publishing a read model: one projection thread replaces the current view, any
//! number of threads take it, nobody blocks the publisher and nobody sees a torn
//! view.
//!
//! Two slots, each holding an `Arc` of a view, and an index naming the current one.
//! A reader announces itself on a slot (a counter), checks that the slot is still
//! current, clones the `Arc` and leaves. The publisher writes the *other* slot, once
//! no reader is left on it, then flips the index. A reader that announced itself on
//! a slot that stopped being current sees the flip on its re-check and retries
//! without touching the slot, so the publisher only ever waits for readers that are
//! in the middle of one `Arc` clone. The announce/re-check and the flip/count check
//! are a Dekker pair, made with two SeqCst fences: loom models fences exactly, while
//! it treats SeqCst loads and stores as acquire/release only, so only fences let
//! the model below check the pair.

use std::sync::atomic::Ordering;

use crossbeam_utils::CachePadded;

use crate::sync::{fence, spin_loop, AtomicUsize, UnsafeCell};

/// The current view of one read model. Single publisher, any number of readers.
pub(crate) struct Publication<V> {
    /// Which slot readers take (0 or 1). Written only by the publisher.
    current: CachePadded<AtomicUsize>,
    /// Readers announced on each slot. The publisher writes a slot only when it is
    /// not current and its count is zero.
    readers: [CachePadded<AtomicUsize>; 2],
    /// The views. The current slot is only read; the other is written only by the
    /// publisher, while no reader is announced on it.
    slots: [UnsafeCell<std::sync::Arc<V>>; 2],
}

// SAFETY: the slots are shared between the publisher and readers under the protocol
// above; a view moves to readers' threads as an `Arc<V>`, which needs `V: Send + Sync`.
unsafe impl<V: Send + Sync> Sync for Publication<V> {}
// SAFETY: as above: the slots hold `Arc<V>`.
unsafe impl<V: Send + Sync> Send for Publication<V> {}

impl<V> Publication<V> {
    pub(crate) fn new(view: V) -> Self {
        let view = std::sync::Arc::new(view);
        Self {
            current: CachePadded::new(AtomicUsize::new(0)),
            readers: [
                CachePadded::new(AtomicUsize::new(0)),
                CachePadded::new(AtomicUsize::new(0)),
            ],
            slots: [
                UnsafeCell::new(std::sync::Arc::clone(&view)),
                UnsafeCell::new(view),
            ],
        }
    }

    /// The current view. Never waits for the publisher.
    pub(crate) fn load(&self) -> std::sync::Arc<V> {
        loop {
            // Relaxed: only a guess, confirmed below.
            let slot = self.current.load(Ordering::Relaxed);
            // Relaxed: announce; the fence orders it before the re-check.
            self.readers[slot].fetch_add(1, Ordering::Relaxed);
            // SeqCst fence: pairs with the fence in `publish`. Either the publisher's
            // count check comes after and sees our announcement (and waits), or our
            // re-check below sees the flip it made before its check.
            fence(Ordering::SeqCst);
            // Acquire: pairs with the Release store in `publish`, so the slot's
            // contents written before the flip are visible.
            if self.current.load(Ordering::Acquire) == slot {
                // SAFETY: the slot is current and we are announced on it, so the
                // publisher will not write it until we leave.
                let view = std::sync::Arc::clone(unsafe { self.slots[slot].get().deref() });
                // Release: our read of the slot happens before the publisher's
                // Acquire load of the count that lets it write the slot.
                self.readers[slot].fetch_sub(1, Ordering::Release);
                return view;
            }
            // Relaxed: we did not touch the slot.
            self.readers[slot].fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Makes `view` the current one.
    ///
    /// # Safety
    ///
    /// One publisher: no two threads may call this at the same time.
    pub(crate) unsafe fn publish(&self, view: std::sync::Arc<V>) {
        // Relaxed: only the publisher writes `current`.
        let spare = 1 - self.current.load(Ordering::Relaxed);
        // SeqCst fence: pairs with the reader's fence (see `load`). The flip that
        // made `spare` stale came before it.
        fence(Ordering::SeqCst);
        // Acquire: pairs with the reader's Release when it leaves, so its read of the
        // slot happens before our write.
        while self.readers[spare].load(Ordering::Acquire) != 0 {
            spin_loop();
        }
        // SAFETY: `spare` is not current and no reader is announced on it, and the
        // caller is the only publisher.
        let old = std::mem::replace(unsafe { self.slots[spare].get_mut().deref() }, view);
        // Release: pairs with the reader's Acquire re-check; the slot is written.
        self.current.store(spare, Ordering::Release);
        // The old view may be the last reference: drop it outside the protocol.
        drop(old);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::Publication;
    use loom::sync::Arc;
    use loom::thread;

    /// A reader racing two publications never sees a torn view and never goes
    /// back in time.
    #[test]
    fn loom_publication_is_never_torn_and_never_goes_back() {
        loom::model(|| {
            let publication = Arc::new(Publication::new((0u64, 0u64)));
            let reader = {
                let publication = Arc::clone(&publication);
                thread::spawn(move || {
                    let first = *publication.load();
                    let second = *publication.load();
                    assert_eq!(first.0, first.1, "torn view");
                    assert_eq!(second.0, second.1, "torn view");
                    assert!(
                        second.0 >= first.0,
                        "went back from {first:?} to {second:?}"
                    );
                })
            };
            for version in 1..=2u64 {
                // SAFETY: this is the only publisher.
                unsafe { publication.publish(std::sync::Arc::new((version, version))) };
            }
            reader.join().unwrap();
            assert_eq!(*publication.load(), (2, 2));
        });
    }

    /// Two readers and a publisher: the slots' accesses never overlap (loom's
    /// cell tracking fails the model if they do).
    #[test]
    fn loom_publication_with_two_readers() {
        loom::model(|| {
            let publication = Arc::new(Publication::new(0u64));
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let publication = Arc::clone(&publication);
                    thread::spawn(move || *publication.load())
                })
                .collect();
            // SAFETY: this is the only publisher.
            unsafe { publication.publish(std::sync::Arc::new(1)) };
            for reader in readers {
                assert!(reader.join().unwrap() <= 1);
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Publication;
    use std::sync::Arc;

    #[test]
    fn readers_see_whole_views_while_a_publisher_replaces_them() {
        const VIEWS: u64 = if cfg!(miri) { 50 } else { 100_000 };
        let publication = Arc::new(Publication::new(vec![0u64; 8]));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let publication = Arc::clone(&publication);
                std::thread::spawn(move || {
                    let mut last = 0;
                    loop {
                        let view = publication.load();
                        assert!(view.iter().all(|&v| v == view[0]), "torn: {view:?}");
                        assert!(view[0] >= last);
                        last = view[0];
                        if last == VIEWS {
                            break;
                        }
                    }
                })
            })
            .collect();
        for version in 1..=VIEWS {
            // SAFETY: this thread is the only publisher.
            unsafe { publication.publish(Arc::new(vec![version; 8])) };
        }
        for reader in readers {
            reader.join().unwrap();
        }
    }
}
