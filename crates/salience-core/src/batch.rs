//! One type for every chunk ("batch") size, and the memory budget that
//! [`BatchSize::Auto`] resolves against.
//!
//! Every explainer evaluates its model on chunks of points (path points,
//! noisy copies, perturbations, …). How many points one chunk holds is a
//! [`BatchSize`]:
//!
//! * [`BatchSize::Fixed`]`(n)` — exactly `n` points per chunk (fewer for the
//!   last one). If the estimated memory of a chunk of `n` exceeds the
//!   budget, the call fails with [`SalienceError::MemoryBudget`] *before*
//!   anything is allocated or the model is called.
//! * [`BatchSize::Auto`] (the default) — per call, the largest chunk whose
//!   estimated memory fits the budget, capped by the model's preferred
//!   batch size (64 unless the model says otherwise) and by the number of
//!   points. It never exceeds the budget; when even one point does not fit
//!   the call fails with [`SalienceError::MemoryBudget`].
//!
//! As data (serde, `name:key=value` specs) a batch size is `"auto"` or a
//! positive integer: `batch_size=auto`, `batch_size=16`,
//! `{"batch_size": "auto"}`, `{"batch_size": 16}`. `0` is rejected with
//! [`SalienceError::InvalidParameter`] everywhere (it used to mean "auto" in
//! some explainers and be an error in others).
//!
//! # The memory budget
//!
//! The budget of a call ([`memory_budget`]) is, first match wins:
//!
//! 1. the innermost [`with_memory_budget`] scope on the calling thread
//!    (a program-level override, also what tests use);
//! 2. the environment variable `SALIENCE_MEMORY_BUDGET` ([`BUDGET_ENV`]):
//!    bytes with an optional unit, `8G`, `512MiB`, `1.5GB`, `2000000`
//!    ([`parse_bytes`]; K/M/G/T are powers of 1024, KB/MB/GB/TB powers of
//!    1000);
//! 3. [`DEFAULT_BUDGET_FRACTION`] (half) of the memory available now
//!    (`MemAvailable` of Linux `/proc/meminfo`);
//! 4. elsewhere, or if `/proc/meminfo` cannot be read,
//!    [`FALLBACK_BUDGET_BYTES`] (2 GiB).
//!
//! # The memory one point needs
//!
//! A chunk of `b` points is estimated to need `b ×` the per-point bytes of
//! the method ([`per_sample_bytes`]), computed from:
//!
//! * the model's own estimate when it has one — for candle models written
//!   as a `StagedForward` (every shipped architecture), salience-explain
//!   measures the bytes of every intermediate tensor of a batch of 1 with a
//!   shape probe; [`crate::Model::activation_bytes`] for black-box models;
//! * otherwise a conservative multiple of the input size
//!   ([`UNKNOWN_FORWARD_FACTOR`], [`UNKNOWN_BACKWARD_FACTOR`], at least
//!   [`UNKNOWN_FLOOR_BYTES`]), so the estimate is never unbounded;
//!
//! times [`FORWARD_BACKWARD_FACTOR`] for a gradient pass (the activations
//! are kept for the backward pass, and their gradients come on top) or
//! [`FORWARD_FACTOR`] for a forward pass; calibrated on the peak-RSS growth
//! per image measured in docs/performance.md (see the constants).
//!
//! ```
//! use salience_core::batch::{with_memory_budget, BatchSize};
//! let b: BatchSize = "auto".parse()?;
//! assert_eq!(b, BatchSize::Auto);
//! assert_eq!("16".parse::<BatchSize>()?.to_string(), "16");
//! assert!("0".parse::<BatchSize>().is_err());
//! // 1 MiB per point, a 10 MiB budget: Auto takes 10 of 100 points (cap 64).
//! let chunk = with_memory_budget(10 << 20, || BatchSize::Auto.resolve(1 << 20, 100, 64))?;
//! assert_eq!(chunk, 10);
//! // A fixed chunk of 16 would need 16 MiB: a typed error, nothing allocated.
//! let fixed = BatchSize::fixed(16)?;
//! assert!(with_memory_budget(10 << 20, || fixed.resolve(1 << 20, 100, 64)).is_err());
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use crate::error::{Result, SalienceError};
use crate::validate::MAX_COUNT;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::Cell;
use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

/// The environment variable that sets the memory budget (see the
/// [module docs](self)).
pub const BUDGET_ENV: &str = "SALIENCE_MEMORY_BUDGET";

/// The share of the available memory the default budget takes.
pub const DEFAULT_BUDGET_FRACTION: f64 = 0.5;

/// The budget where the available memory cannot be read (not Linux): 2 GiB.
pub const FALLBACK_BUDGET_BYTES: u64 = 2 << 30;

/// Bytes one point of a forward + backward pass needs, as a multiple of
/// the sum of the bytes of the forward pass's intermediate tensors (the
/// activations, measured by the shape probe). Calibrated at 224² against
/// the peak-RSS growth in docs/performance.md (2026-12-07): ResNet-18's
/// activations are 23.0 MB per image and a forward + backward grows the
/// peak by 37 MB per image (149 MB at batch 4; IG-50 in chunks of 16:
/// 34 MB per point), ratio 1.6; ResNet-50's are 105.8 MB against 135 MB
/// (540 MB at batch 4; IG-50: 122 MB per point), ratio 1.3. 2 keeps a
/// margin of 1.25–1.7. (Issue 26's ≈ 0.44 GB per ResNet-18 image predates
/// the batch-norm folding and the banded convolution backward.)
pub const FORWARD_BACKWARD_FACTOR: u64 = 2;

/// Bytes one point of a forward pass without gradients needs, as a
/// multiple of the activations' bytes: 1 (intermediates are freed as the
/// pass goes; the measured growth is 2 MB per ResNet-18 image and 13 MB per
/// ResNet-50 image, well below the 23 and 106 MB of activations).
pub const FORWARD_FACTOR: u64 = 1;

/// For a model with no estimate: the bytes of one forward + backward point
/// as a multiple of the input's bytes (measured: ResNet-18 at 224² ≈ 61 ×
/// its 602 kB input, ResNet-50 ≈ 220 ×).
pub const UNKNOWN_BACKWARD_FACTOR: u64 = 512;

/// For a model with no estimate: the bytes of one forward point as a
/// multiple of the input's bytes (measured: ResNet-50 at 224² ≈ 22 ×).
pub const UNKNOWN_FORWARD_FACTOR: u64 = 64;

/// For a model with no estimate: the least bytes one point is assumed to
/// need (1 MiB), so tiny inputs through a wide model are not under-counted
/// by much.
pub const UNKNOWN_FLOOR_BYTES: u64 = 1 << 20;

/// How many points one chunk of model evaluations holds. See the
/// [module docs](self) for what `Auto` chooses and how to set the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BatchSize {
    /// The largest chunk that fits the memory budget (at most the model's
    /// preferred batch size).
    #[default]
    Auto,
    /// Exactly this many points per chunk; an error if the estimate says
    /// the chunk exceeds the budget.
    Fixed(NonZeroUsize),
}

impl BatchSize {
    /// `Fixed(n)`; 0 (and more than [`MAX_COUNT`]) is an
    /// [`SalienceError::InvalidParameter`] naming `batch_size`.
    pub fn fixed(n: usize) -> Result<Self> {
        match NonZeroUsize::new(n) {
            Some(v) if n <= MAX_COUNT => Ok(BatchSize::Fixed(v)),
            _ => Err(SalienceError::invalid(
                "batch_size",
                n,
                "must be \"auto\" or an integer in 1..=MAX_COUNT (16777216)",
            )),
        }
    }

    /// `Auto` for `None`, [`BatchSize::fixed`]`(n)` for `Some(n)` (the
    /// `Option<usize>` batch sizes of older configs; `Some(0)` is an
    /// [`SalienceError::InvalidParameter`] naming `batch_size`).
    ///
    /// ```
    /// use salience_core::BatchSize;
    /// assert_eq!(BatchSize::from_option(None)?, BatchSize::Auto);
    /// assert_eq!(BatchSize::from_option(Some(8))?, BatchSize::fixed(8)?);
    /// assert!(BatchSize::from_option(Some(0)).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn from_option(n: Option<usize>) -> Result<Self> {
        n.map_or(Ok(BatchSize::Auto), BatchSize::fixed)
    }

    /// The fixed size, `None` for `Auto`.
    pub fn get(self) -> Option<usize> {
        match self {
            BatchSize::Auto => None,
            BatchSize::Fixed(n) => Some(n.get()),
        }
    }

    /// The chunk size for `n_items` points of `per_sample` bytes each under
    /// the current [`memory_budget`], `Auto` capped by `cap` (the model's
    /// preferred batch size). Always in `1..=max(n_items, 1)`. Errors with
    /// [`SalienceError::MemoryBudget`] when a `Fixed` chunk, or one point
    /// under `Auto`, does not fit; nothing is allocated before.
    pub fn resolve(self, per_sample: u64, n_items: usize, cap: usize) -> Result<usize> {
        self.resolve_within(per_sample, n_items, cap, &memory_budget())
    }

    /// [`BatchSize::resolve`] under an explicit `budget`.
    pub fn resolve_within(
        self,
        per_sample: u64,
        n_items: usize,
        cap: usize,
        budget: &MemoryBudget,
    ) -> Result<usize> {
        let per_sample = per_sample.max(1);
        let most = n_items.max(1);
        let chunk = match self {
            BatchSize::Fixed(n) => n.get().min(most),
            BatchSize::Auto => {
                let fit = usize::try_from(budget.bytes / per_sample).unwrap_or(usize::MAX);
                fit.min(cap.max(1)).min(most).max(1)
            }
        };
        let needed = per_sample.saturating_mul(chunk as u64);
        if needed > budget.bytes {
            return Err(SalienceError::MemoryBudget {
                batch_size: self.to_string(),
                chunk,
                per_sample,
                needed,
                budget: budget.bytes,
                origin: budget.source.to_string(),
            });
        }
        Ok(chunk)
    }
}

impl From<NonZeroUsize> for BatchSize {
    fn from(n: NonZeroUsize) -> Self {
        BatchSize::Fixed(n)
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchSize::Auto => f.write_str("auto"),
            BatchSize::Fixed(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for BatchSize {
    type Err = SalienceError;
    /// `auto` (any case) or a positive integer.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("auto") {
            return Ok(BatchSize::Auto);
        }
        match t.parse::<usize>() {
            Ok(n) => BatchSize::fixed(n),
            Err(_) => Err(SalienceError::invalid(
                "batch_size",
                s,
                "must be \"auto\" or a positive integer",
            )),
        }
    }
}

impl Serialize for BatchSize {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            BatchSize::Auto => s.serialize_str("auto"),
            BatchSize::Fixed(n) => s.serialize_u64(n.get() as u64),
        }
    }
}

impl<'de> Deserialize<'de> for BatchSize {
    /// `"auto"`, a positive integer, or a string holding one (a spec value
    /// laid over an `"auto"` preset arrives as a string).
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
            Signed(i64),
            Float(f64),
        }
        let err = |v: String| {
            serde::de::Error::custom(format!(
                "invalid batch_size {v}: must be \"auto\" or an integer in 1..=16777216"
            ))
        };
        match Raw::deserialize(d)? {
            Raw::Int(n) => usize::try_from(n)
                .ok()
                .and_then(|n| BatchSize::fixed(n).ok())
                .ok_or_else(|| err(n.to_string())),
            Raw::Text(t) => t.parse().map_err(|_| err(format!("{t:?}"))),
            Raw::Signed(n) => Err(err(n.to_string())),
            Raw::Float(x) => Err(err(x.to_string())),
        }
    }
}

/// Where a [`MemoryBudget`] came from (named in
/// [`SalienceError::MemoryBudget`] so the message says which knob to turn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetSource {
    /// A [`with_memory_budget`] scope.
    Scoped,
    /// The `SALIENCE_MEMORY_BUDGET` environment variable.
    Env,
    /// [`DEFAULT_BUDGET_FRACTION`] of `MemAvailable` (this many bytes).
    Available(u64),
    /// [`FALLBACK_BUDGET_BYTES`]: the available memory could not be read.
    Fallback,
}

impl fmt::Display for BudgetSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetSource::Scoped => f.write_str("set by salience_core::batch::with_memory_budget"),
            BudgetSource::Env => write!(f, "set by {BUDGET_ENV}"),
            BudgetSource::Available(a) => write!(
                f,
                "default: {DEFAULT_BUDGET_FRACTION} of the {} available; set {BUDGET_ENV} (e.g. 16G) to change it",
                human_bytes(*a)
            ),
            BudgetSource::Fallback => write!(
                f,
                "default where the available memory is unknown; set {BUDGET_ENV} (e.g. 16G) to change it"
            ),
        }
    }
}

/// The memory one call may use for its chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Bytes.
    pub bytes: u64,
    /// Where the figure came from.
    pub source: BudgetSource,
}

impl MemoryBudget {
    /// A budget of `bytes` set by the program ([`BudgetSource::Scoped`]).
    pub fn bytes(bytes: u64) -> Self {
        MemoryBudget {
            bytes,
            source: BudgetSource::Scoped,
        }
    }
}

thread_local! {
    static SCOPED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `f` with a memory budget of `bytes` on this thread (the
/// explainers resolve their chunk sizes on the calling thread, before any
/// parallel work); the previous budget is restored afterwards, also when
/// `f` unwinds.
///
/// ```
/// use salience_core::batch::{memory_budget, with_memory_budget};
/// assert_eq!(with_memory_budget(1 << 30, || memory_budget().bytes), 1 << 30);
/// ```
pub fn with_memory_budget<R>(bytes: u64, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SCOPED.with(|s| s.replace(Some(bytes))));
    f()
}

/// The budget in force now (see the [module docs](self) for the order).
/// An unreadable `SALIENCE_MEMORY_BUDGET` is ignored in favour of the
/// default (use [`parse_bytes`] to check a value).
pub fn memory_budget() -> MemoryBudget {
    if let Some(bytes) = SCOPED.with(Cell::get) {
        return MemoryBudget::bytes(bytes);
    }
    if let Some(bytes) = std::env::var(BUDGET_ENV)
        .ok()
        .and_then(|v| parse_bytes(&v).ok())
    {
        return MemoryBudget {
            bytes,
            source: BudgetSource::Env,
        };
    }
    match available_memory() {
        Some(a) => MemoryBudget {
            bytes: (a as f64 * DEFAULT_BUDGET_FRACTION) as u64,
            source: BudgetSource::Available(a),
        },
        None => MemoryBudget {
            bytes: FALLBACK_BUDGET_BYTES,
            source: BudgetSource::Fallback,
        },
    }
}

/// `MemAvailable` of `/proc/meminfo` in bytes (Linux), else `None`.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_available(&text)
}

/// The `MemAvailable:` line of a `/proc/meminfo` text, in bytes.
fn meminfo_available(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut parts = line.split_whitespace().skip(1);
    let value: u64 = parts.next()?.parse().ok()?;
    let unit = match parts.next() {
        Some("kB") | Some("KB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    value.checked_mul(unit)
}

/// Bytes from text: a number with an optional unit (case-insensitive,
/// spaces allowed): none or `B` (bytes), `K`/`KiB`, `M`/`MiB`,
/// `G`/`GiB`, `T`/`TiB` (powers of 1024), `KB`, `MB`, `GB`, `TB` (powers
/// of 1000). Zero, negative, non-finite or overflowing values are
/// [`SalienceError::InvalidParameter`] naming `memory_budget`.
///
/// ```
/// use salience_core::batch::parse_bytes;
/// assert_eq!(parse_bytes("8G")?, 8 << 30);
/// assert_eq!(parse_bytes("1.5 GB")?, 1_500_000_000);
/// assert_eq!(parse_bytes("512MiB")?, 512 << 20);
/// assert!(parse_bytes("0").is_err() && parse_bytes("lots").is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn parse_bytes(text: &str) -> Result<u64> {
    let bad = || {
        SalienceError::invalid(
            "memory_budget",
            text,
            "must be a positive number of bytes with an optional unit (8G, 512MiB, 1.5GB)",
        )
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024f64.powi(2),
        "g" | "gib" => 1024f64.powi(3),
        "t" | "tib" => 1024f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Which pass a chunk runs: it sets the multiple of the activations' bytes
/// one point needs ([`per_sample_bytes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Forward only, no gradients ([`FORWARD_FACTOR`]).
    Forward,
    /// Forward and backward ([`FORWARD_BACKWARD_FACTOR`]).
    ForwardBackward,
}

/// The bytes one point of `pass` needs: from `activation_bytes` (the sum of
/// the bytes of one sample's intermediate tensors, when the model can tell)
/// or else from the input's `input_bytes`
/// ([`UNKNOWN_BACKWARD_FACTOR`] / [`UNKNOWN_FORWARD_FACTOR`], at least
/// [`UNKNOWN_FLOOR_BYTES`]); plus four copies of the input for the
/// explainer's own buffers (the chunk, its gradient, accumulators).
///
/// ```
/// use salience_core::batch::{per_sample_bytes, Pass};
/// // 23 MB of activations, a 602 kB input: 2 × 23 MB + 4 × 602 kB.
/// assert_eq!(per_sample_bytes(Some(23_000_000), 602_112, Pass::ForwardBackward), 48_408_448);
/// // No estimate: 512 × the input (+ 4 copies).
/// assert_eq!(per_sample_bytes(None, 602_112, Pass::ForwardBackward), 516 * 602_112);
/// ```
pub fn per_sample_bytes(activation_bytes: Option<u64>, input_bytes: u64, pass: Pass) -> u64 {
    let model = match (activation_bytes, pass) {
        (Some(a), Pass::Forward) => a.saturating_mul(FORWARD_FACTOR),
        (Some(a), Pass::ForwardBackward) => a.saturating_mul(FORWARD_BACKWARD_FACTOR),
        (None, Pass::Forward) => input_bytes
            .saturating_mul(UNKNOWN_FORWARD_FACTOR)
            .max(UNKNOWN_FLOOR_BYTES),
        (None, Pass::ForwardBackward) => input_bytes
            .saturating_mul(UNKNOWN_BACKWARD_FACTOR)
            .max(UNKNOWN_FLOOR_BYTES),
    };
    model.saturating_add(input_bytes.saturating_mul(4))
}

/// The chunk size for `n_items` forward evaluations of `model` on inputs
/// of per-sample shape `sample_shape` ([`BatchSize::resolve`] with
/// [`Pass::Forward`], the model's [`crate::Model::activation_bytes`] and
/// its preferred batch size as the cap of `Auto`).
///
/// ```
/// use salience_core::batch::{model_chunk, with_memory_budget, BatchSize};
/// use salience_core::LinearModel;
/// let m = LinearModel::new(ndarray::Array2::ones((2, 3)), ndarray::Array1::zeros(2))?;
/// // No estimate: 1 MiB (the floor) + 4 × 12 bytes per point.
/// let per_point = (1 << 20) + 48;
/// let c = with_memory_budget(5 * per_point, || model_chunk(&m, BatchSize::Auto, &[3], 100))?;
/// assert_eq!(c, 5);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn model_chunk(
    model: &dyn crate::Model,
    batch_size: BatchSize,
    sample_shape: &[usize],
    n_items: usize,
) -> Result<usize> {
    let input = sample_bytes(sample_shape);
    let per = per_sample_bytes(model.activation_bytes(sample_shape), input, Pass::Forward);
    batch_size.resolve(per, n_items, model.preferred_batch_size())
}

/// Bytes of one f32 sample of shape `sample_shape` (saturating).
pub fn sample_bytes(sample_shape: &[usize]) -> u64 {
    sample_shape
        .iter()
        .fold(4u64, |a, &d| a.saturating_mul(d as u64))
}

/// `bytes` in the largest binary unit that keeps it ≥ 1 (`1.5 GiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        #[serde(default)]
        batch_size: BatchSize,
    }

    #[test]
    fn serde_round_trips_auto_and_integers_and_rejects_zero() {
        for (json, want) in [
            (r#"{"batch_size":"auto"}"#, BatchSize::Auto),
            (r#"{"batch_size":16}"#, BatchSize::fixed(16).unwrap()),
            (r#"{"batch_size":"16"}"#, BatchSize::fixed(16).unwrap()),
            (r#"{}"#, BatchSize::Auto),
        ] {
            let c: Cfg = serde_json::from_str(json).unwrap();
            assert_eq!(c.batch_size, want, "{json}");
            let back: Cfg = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
            assert_eq!(back, c);
        }
        assert_eq!(
            serde_json::to_string(&Cfg {
                batch_size: BatchSize::Auto
            })
            .unwrap(),
            r#"{"batch_size":"auto"}"#
        );
        for bad in [
            r#"{"batch_size":0}"#,
            r#"{"batch_size":"0"}"#,
            r#"{"batch_size":-3}"#,
            r#"{"batch_size":2.5}"#,
            r#"{"batch_size":"lots"}"#,
            r#"{"batch_size":16777217}"#,
        ] {
            let e = serde_json::from_str::<Cfg>(bad).unwrap_err().to_string();
            assert!(e.contains("batch_size"), "{bad}: {e}");
        }
        match "0".parse::<BatchSize>() {
            Err(SalienceError::InvalidParameter { name, .. }) => assert_eq!(name, "batch_size"),
            other => panic!("{other:?}"),
        }
        assert_eq!(" AUTO ".parse::<BatchSize>().unwrap(), BatchSize::Auto);
        assert!(BatchSize::fixed(0).is_err());
        assert_eq!(BatchSize::fixed(3).unwrap().get(), Some(3));
        assert_eq!(BatchSize::default(), BatchSize::Auto);
    }

    /// Hand-computed: 1 MiB per point under budgets of 10 MiB and 40 MiB;
    /// 4 MiB per point (a 4× bigger input) under 10 MiB.
    #[test]
    fn auto_shrinks_for_bigger_inputs_and_grows_for_bigger_budgets() {
        let mib = 1u64 << 20;
        let b = |bytes| MemoryBudget::bytes(bytes);
        let auto = BatchSize::Auto;
        assert_eq!(
            auto.resolve_within(mib, 1000, 64, &b(10 * mib)).unwrap(),
            10
        );
        assert_eq!(
            auto.resolve_within(4 * mib, 1000, 64, &b(10 * mib))
                .unwrap(),
            2
        );
        assert_eq!(
            auto.resolve_within(mib, 1000, 64, &b(40 * mib)).unwrap(),
            40
        );
        // Capped by the preferred size and by the number of points.
        assert_eq!(auto.resolve_within(mib, 1000, 64, &b(1 << 40)).unwrap(), 64);
        assert_eq!(auto.resolve_within(mib, 5, 64, &b(1 << 40)).unwrap(), 5);
        assert_eq!(auto.resolve_within(mib, 0, 0, &b(1 << 40)).unwrap(), 1);
        // Exactly one point fits; then none.
        assert_eq!(auto.resolve_within(mib, 9, 64, &b(mib)).unwrap(), 1);
        match auto.resolve_within(mib + 1, 9, 64, &b(mib)) {
            Err(SalienceError::MemoryBudget {
                chunk,
                needed,
                budget,
                ..
            }) => assert_eq!((chunk, needed, budget), (1, mib + 1, mib)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fixed_chunk_over_the_budget_is_an_error_naming_the_knobs() {
        let mib = 1u64 << 20;
        let f = BatchSize::fixed(16).unwrap();
        assert_eq!(
            f.resolve_within(mib, 1000, 64, &MemoryBudget::bytes(16 * mib))
                .unwrap(),
            16
        );
        // Only the points there are count: 5 points of a chunk of 16.
        assert_eq!(
            f.resolve_within(mib, 5, 64, &MemoryBudget::bytes(5 * mib))
                .unwrap(),
            5
        );
        let e = f
            .resolve_within(mib, 1000, 64, &MemoryBudget::bytes(15 * mib))
            .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, SalienceError::MemoryBudget { chunk: 16, .. }));
        for knob in ["batch_size", "auto", BUDGET_ENV, "16.00 MiB", "15.00 MiB"] {
            assert!(msg.contains(knob), "{knob}: {msg}");
        }
        // Saturating arithmetic: a huge estimate is an error, not a wrap.
        assert!(f
            .resolve_within(u64::MAX, 1000, 64, &MemoryBudget::bytes(u64::MAX - 1))
            .is_err());
    }

    #[test]
    fn scoped_budgets_nest_and_restore() {
        let outer = memory_budget();
        with_memory_budget(123, || {
            assert_eq!(memory_budget(), MemoryBudget::bytes(123));
            with_memory_budget(7, || assert_eq!(memory_budget().bytes, 7));
            assert_eq!(memory_budget().bytes, 123);
        });
        assert_eq!(memory_budget().source, outer.source);
        assert!(outer.bytes > 0);
    }

    #[test]
    fn byte_texts_and_meminfo_parse() {
        assert_eq!(parse_bytes("2000000").unwrap(), 2_000_000);
        assert_eq!(parse_bytes("1k").unwrap(), 1024);
        assert_eq!(parse_bytes("3 TiB").unwrap(), 3 << 40);
        assert_eq!(parse_bytes("2MB").unwrap(), 2_000_000);
        for bad in ["", "-1G", "0.1", "1e9", "8X", "inf", "99999999999T"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        let text = "MemTotal:       32000000 kB\nMemAvailable:   16000000 kB\n";
        assert_eq!(meminfo_available(text), Some(16_000_000 * 1024));
        assert_eq!(meminfo_available("MemTotal: 5 kB\n"), None);
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 29), "1.50 GiB");
        assert_eq!(sample_bytes(&[3, 224, 224]), 602_112);
    }
}
