//! One switch between `std` and `loom` for every atomic, cell, lock and thread the
//! core uses, so the loom models check the very code that ships.
//!
//! Build with `RUSTFLAGS="--cfg loom"` to get loom's model-checked types.

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::{ConstPtr, MutPtr, UnsafeCell};
    pub(crate) use loom::hint::spin_loop;
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize,
    };
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use loom::thread;
}

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::hint::spin_loop;
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize,
    };
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use std::thread;

    /// `std::cell::UnsafeCell` with loom's guard-returning API, at no cost.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        pub(crate) fn get(&self) -> ConstPtr<T> {
            ConstPtr(self.0.get())
        }

        pub(crate) fn get_mut(&self) -> MutPtr<T> {
            MutPtr(self.0.get())
        }
    }

    /// A shared access to a cell; loom tracks it, std does not.
    pub(crate) struct ConstPtr<T>(*const T);

    impl<T> ConstPtr<T> {
        /// # Safety
        /// No mutable access to the cell may exist while the reference lives.
        pub(crate) unsafe fn deref(&self) -> &T {
            // SAFETY: the caller upholds the aliasing rule above; the pointer comes
            // from a live `UnsafeCell`.
            unsafe { &*self.0 }
        }
    }

    /// An exclusive access to a cell; loom tracks it, std does not. `pub` in this
    /// private module, as the sealed producer trait names it.
    pub struct MutPtr<T>(*mut T);

    impl<T> MutPtr<T> {
        /// # Safety
        /// No other access to the cell may exist while the reference lives.
        #[allow(clippy::mut_from_ref)] // reason: mirrors loom's `MutPtr::deref`; exclusivity is the caller's contract
        pub(crate) unsafe fn deref(&self) -> &mut T {
            // SAFETY: the caller upholds exclusivity; the pointer comes from a live
            // `UnsafeCell`.
            unsafe { &mut *self.0 }
        }

        /// Like `deref`, for a borrow that outlives the guard (std only: loom must
        /// see the guard live for as long as the access).
        ///
        /// # Safety
        /// As `deref`, for all of `'a`.
        pub(crate) unsafe fn into_mut<'a>(self) -> &'a mut T {
            // SAFETY: as in `deref`.
            unsafe { &mut *self.0 }
        }
    }
}

pub(crate) use imp::*;

/// Sleeps for about `duration`. Loom models no time: there it only yields, which
/// loom treats as "let the others run".
pub(crate) fn pause(duration: std::time::Duration) {
    #[cfg(loom)]
    {
        let _ = duration;
        thread::yield_now();
    }
    #[cfg(not(loom))]
    thread::sleep(duration);
}

/// Locks `mutex`, ignoring poison. The ring's locks guard `()` (they exist for the
/// condvar handshake); the engine's guard data that no code path leaves half-changed
/// (each critical section moves whole values, never calls user code), so a panic
/// elsewhere cannot leave any of them inconsistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
