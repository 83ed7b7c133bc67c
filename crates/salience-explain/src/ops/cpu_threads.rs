//! candle 0.11's CPU elementwise thread pool, and how to turn it off.
//!
//! candle 0.11 runs every elementwise CPU op on tensors of 64 Ki elements or
//! more (`unary_map_vec_par`, `binary_map_vec_par`: additions, products,
//! activations, the gradient sums of `backward`) on its own "barrier pool":
//! `CANDLE_NUM_THREADS − 1` worker threads (default: `RAYON_NUM_THREADS`, else
//! the core count) that **spin** for up to 25 000 iterations after each op
//! before parking, while the calling thread spins until they finish. The
//! matrix products and salience's own kernels (convolution, linear, fused
//! norms) run on rayon's pool at the same time, so on a machine with as many
//! cores as threads the spinning workers take cores from the threads doing
//! the work. Profiled with `perf` on the 2-core CI machine (ViT-tiny, 4 ×
//! 224², forward + backward): 40 % of the cycles in
//! `candle_core::utils::BarrierGuard::drop` and 15 % in the workers' spin
//! loop, 17 % in the matrix-product kernel.
//!
//! With `CANDLE_NUM_THREADS=1` the pool has no workers and each elementwise
//! op runs on the calling thread. Elementwise ops compute each output
//! element alone, so the results are bit-identical; only the time changes
//! (docs/performance.md, "candle's elementwise pool").
//! [`candle_elementwise_on_caller`] sets it for a binary; every example of
//! this repository calls it first thing in `main`.

/// The environment variable candle 0.11 reads (once, at its first parallel
/// elementwise op) for the size of its elementwise pool.
pub const CANDLE_NUM_THREADS: &str = "CANDLE_NUM_THREADS";

/// Makes candle run its elementwise CPU ops on the calling thread (sets
/// `CANDLE_NUM_THREADS=1`, see the [module docs](self)), unless the variable
/// is already set, which is left as it is (so `CANDLE_NUM_THREADS=2` brings
/// candle's pool back for a comparison). Returns whether it set the
/// variable. Rayon's pool, and with it the matrix products and salience's
/// kernels, keeps `RAYON_NUM_THREADS` threads.
///
/// It has no effect once candle has run a parallel elementwise op (candle
/// reads the variable once).
///
/// # Safety
///
/// It writes the process environment, like [`std::env::set_var`]: call it
/// at the very start of `main`, before any other thread exists (nothing may
/// read or write the environment at the same time).
///
/// ```
/// // First line of a binary's `main`:
/// // SAFETY: no other thread exists yet.
/// let set_here = unsafe { salience_explain::ops::candle_elementwise_on_caller() };
/// assert_eq!(std::env::var("CANDLE_NUM_THREADS").is_ok(), true);
/// # let _ = set_here;
/// ```
pub unsafe fn candle_elementwise_on_caller() -> bool {
    if std::env::var_os(CANDLE_NUM_THREADS).is_some() {
        return false;
    }
    // SAFETY: the caller guarantees that no other thread reads or writes the
    // environment (see # Safety above).
    unsafe { std::env::set_var(CANDLE_NUM_THREADS, "1") };
    true
}
