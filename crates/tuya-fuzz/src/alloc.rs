//! An allocator that measures what a target asks for, so "no unbounded allocation" is checked
//! and not just hoped for.
//!
//! Installed as the global allocator of the stable harness's test binary; it forwards to the
//! system allocator and, per thread, remembers the largest single request since the last
//! [`reset`]. Tests run on several threads at once, so the figure is per thread: each target
//! runs on its own test's thread and sees only its own allocations.
//!
//! A request above [`HARD_LIMIT`] while armed is refused before it can exhaust the machine's
//! memory: the input being run is printed in hex first (the process then aborts with Rust's
//! "memory allocation failed" message), since no test code runs after that. Under cargo-fuzz
//! this allocator is not installed; libFuzzer's `-malloc_limit_mb` does the same job there.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

/// Requests above this are refused outright: no input of a few KiB has a reason to ask for a
/// gigabyte, and granting it could take the shared machine's memory with it.
pub const HARD_LIMIT: usize = 1 << 30;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static ARMED: Cell<bool> = const { Cell::new(false) };
    // The input being run, for the report of a refused request (a raw pointer: the
    // allocator cannot own or clone anything).
    static INPUT: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
}

/// The tracking allocator. Install it with
/// `#[global_allocator] static A: tuya_fuzz::alloc::Tracking = tuya_fuzz::alloc::Tracking;`.
pub struct Tracking;

impl Tracking {
    fn note(size: usize) -> bool {
        // `try_with`: thread-locals may be gone while a thread is being torn down.
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        if size <= HARD_LIMIT || !ARMED.try_with(Cell::get).unwrap_or(false) {
            return true;
        }
        let _ = ARMED.try_with(|a| a.set(false));
        report_refused(size);
        false
    }
}

/// Writes the input that asked for `size` bytes to stderr, without allocating.
fn report_refused(size: usize) {
    let (ptr, len) = INPUT.try_with(Cell::get).unwrap_or((std::ptr::null(), 0));
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "tuya-fuzz: a request for {size} bytes (over {HARD_LIMIT}) refused; the input ({len} bytes, hex):"
    );
    if !ptr.is_null() {
        // SAFETY: `guarded` keeps the slice alive and registered only while the target runs
        // on this thread, and this runs on that thread during that call.
        let input = unsafe { std::slice::from_raw_parts(ptr, len) };
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for chunk in input.chunks(64) {
            let mut line = [0u8; 129];
            for (i, b) in chunk.iter().enumerate() {
                line[2 * i] = HEX[usize::from(b >> 4)];
                line[2 * i + 1] = HEX[usize::from(b & 15)];
            }
            line[2 * chunk.len()] = b'\n';
            let _ = err.write_all(&line[..2 * chunk.len() + 1]);
        }
    }
}

// SAFETY: every call is forwarded to `System` unchanged, or refused with a null pointer, which
// `GlobalAlloc` allows.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::note(layout.size()) {
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        } else {
            std::ptr::null_mut()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::note(layout.size()) {
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc_zeroed(layout) }
        } else {
            std::ptr::null_mut()
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if Self::note(new_size) {
            // SAFETY: forwarded with the caller's pointer, layout and size.
            unsafe { System.realloc(ptr, layout, new_size) }
        } else {
            std::ptr::null_mut()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Forgets the largest request seen on this thread.
pub fn reset() {
    LARGEST.with(|l| l.set(0));
}

/// The largest single request on this thread since [`reset`] (0 when the allocator is not
/// installed).
pub fn largest() -> usize {
    LARGEST.with(Cell::get)
}

/// Whether [`Tracking`] is the global allocator of this process.
pub fn installed() -> bool {
    reset();
    let probe = std::hint::black_box(vec![0u8; 3]);
    drop(probe);
    largest() >= 3
}

/// Runs `f` with `input` registered for the report of a refused request, and the hard limit
/// armed; returns the largest single request it made.
pub fn guarded<R>(input: &[u8], f: impl FnOnce() -> R) -> (R, usize) {
    struct Disarm;
    impl Drop for Disarm {
        fn drop(&mut self) {
            ARMED.with(|a| a.set(false));
            INPUT.with(|i| i.set((std::ptr::null(), 0)));
        }
    }
    reset();
    INPUT.with(|i| i.set((input.as_ptr(), input.len())));
    ARMED.with(|a| a.set(true));
    let _disarm = Disarm;
    let r = f();
    (r, largest())
}
