//! The allocator's settings. The binary allocates with mimalloc (`src/main.rs`).

use libmimalloc_sys::mi_option_t;

/// mimalloc's option number for its purge delay, in milliseconds (the bindings leave
/// this option out).
pub const PURGE_DELAY: mi_option_t = 15;

/// Has mimalloc return freed memory to the system at once rather than a second later
/// (its default), unless its environment (`MIMALLOC_PURGE_DELAY`) sets the delay. The
/// peak then follows the memory in use: about 7 MB lower, and steadier from run to
/// run. The program runs the same instructions; returning memory more often costs
/// some time in the system, most where clusters are many (about 15% on 10,000
/// signatures, little on the usual exports).
///
/// # Safety
///
/// Call it before any other thread starts: mimalloc stores the option with a plain
/// write that its other threads read without synchronisation.
#[allow(unsafe_code)]
pub unsafe fn purge_freed_memory_at_once() {
    // SAFETY: stores one integer in the allocator's option table, where every value
    // is valid for this option (0 means at once); the caller ensures no other thread
    // reads it meanwhile. The default is replaced only if the environment left it.
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: reads one integer from the allocator's option table.
        unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
    }

    #[test]
    #[allow(unsafe_code)]
    fn the_option_set_is_the_purge_delay_and_it_becomes_zero() {
        let set_outside = ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if set_outside {
            return;
        }
        // mimalloc v3 delays purging by 1000 ms: the number names that option.
        assert_eq!(purge_delay(), 1000);
        // SAFETY: this test is the only code in the process that touches the option.
        unsafe { purge_freed_memory_at_once() };
        assert_eq!(purge_delay(), 0);
    }
}
