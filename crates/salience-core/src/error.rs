//! The error type shared by every salience crate.

use std::path::PathBuf;

/// Result alias used throughout salience.
pub type Result<T, E = SalienceError> = std::result::Result<T, E>;

/// Why a map was judged degenerate by a normalization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DegenerateReason {
    /// Every value of the map is the same (range and standard deviation are 0).
    Constant,
    /// Every value of the map is zero (its norm is 0).
    AllZero,
    /// The normalized map would not be finite (overflow or underflow).
    NotFinite,
    /// The largest pixel-wise mean E⁺ of an ensemble is 0, so a quantity
    /// divided by it (Contextual Improvement's exploration rate) is
    /// undefined.
    ZeroBestMean,
}

impl std::fmt::Display for DegenerateReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DegenerateReason::Constant => "the map is constant",
            DegenerateReason::AllZero => "the map is all zero",
            DegenerateReason::NotFinite => "normalizing the map overflows",
            DegenerateReason::ZeroBestMean => "the largest pixel-wise mean E+ is 0",
        })
    }
}

/// Every error a salience function can return. Bad input is always reported
/// through this type, never by a panic and never by NaN in the output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SalienceError {
    /// An array has the wrong shape (or rank).
    #[error("shape mismatch in {context}: expected {expected}, found {found:?}")]
    ShapeMismatch {
        /// Which argument or object.
        context: String,
        /// The expected shape, in words.
        expected: String,
        /// The shape that was given.
        found: Vec<usize>,
    },
    /// A value is NaN or infinite.
    #[error("non-finite value ({value}) in {context} at flat index {index}")]
    NonFinite {
        /// Which argument or object.
        context: String,
        /// Flat (row-major) index of the first offending value.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// An input that must not be empty is empty (zero samples, zero maps, zero-size maps).
    #[error("empty input: {0}")]
    Empty(String),
    /// A map cannot be normalized (or aggregated) because it is degenerate.
    #[error("degenerate map (sample {sample}, map {map}): {reason}; use DegeneratePolicy::Zeros to map such maps to zeros")]
    DegenerateMap {
        /// Sample index within the batch.
        sample: usize,
        /// Map (method) index within the ensemble, 0 for a plain batch.
        map: usize,
        /// What is wrong with it.
        reason: DegenerateReason,
    },
    /// A parameter is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name, as in the config struct.
        name: String,
        /// The value given, formatted.
        value: String,
        /// The valid range, in words.
        reason: String,
    },
    /// A target class index is out of range for the model.
    #[error(
        "target {target} of sample {sample} is out of range for a model with {num_classes} classes"
    )]
    TargetOutOfRange {
        /// Sample index.
        sample: usize,
        /// The target given.
        target: usize,
        /// Number of classes of the model.
        num_classes: usize,
    },
    /// The number of targets does not match the number of inputs.
    #[error("{targets} targets given for {inputs} inputs")]
    TargetCount {
        /// Number of targets.
        targets: usize,
        /// Number of inputs.
        inputs: usize,
    },
    /// Reading or writing a file failed.
    #[error("{action} {path}: {message}")]
    Io {
        /// "reading" or "writing".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The model (a user's implementation of [`crate::Model`]) failed.
    #[error("model error: {0}")]
    Model(String),
    /// A numerical solver failed.
    #[error("solver error: {0}")]
    Solver(String),
    /// A backend (candle, ...) error.
    #[error("backend error: {0}")]
    Backend(String),
    /// An input gradient is missing, or a gradient check showed it wrong:
    /// a gradient explainer never returns a map computed from it.
    #[error("gradient {fault}: {detail}")]
    Gradient {
        /// What is wrong with the gradient.
        fault: GradientFault,
        /// The evidence and the way out (which op to replace, by what).
        detail: String,
    },
    /// A chunk of model evaluations would exceed the memory budget
    /// ([`crate::batch`]); returned before anything is allocated.
    #[error(
        "memory budget exceeded: a chunk of {chunk} (batch_size = {batch_size}) needs about {} ({} per point), the budget is {} ({origin}); use batch_size=auto or a smaller batch_size, or raise the budget with SALIENCE_MEMORY_BUDGET (e.g. 16G) or salience_core::batch::with_memory_budget",
        crate::batch::human_bytes(*needed),
        crate::batch::human_bytes(*per_sample),
        crate::batch::human_bytes(*budget)
    )]
    MemoryBudget {
        /// The batch size asked for (`auto` or a number).
        batch_size: String,
        /// The chunk that was checked (points).
        chunk: usize,
        /// The estimated bytes of one point.
        per_sample: u64,
        /// The estimated bytes of the chunk.
        needed: u64,
        /// The budget in bytes.
        budget: u64,
        /// Where the budget came from (and how to change it).
        origin: String,
    },
}

/// What is wrong with an input gradient ([`SalienceError::Gradient`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GradientFault {
    /// The output depends on the input, but the autodiff graph does not
    /// reach it: an op without a backward pass cut it (for candle:
    /// `candle_nn::ops::layer_norm`, `rms_norm`, `softmax_last_dim`, the
    /// fused paths of `candle_nn::LayerNorm` / `RmsNorm`, a `detach`).
    Detached,
    /// The output does not depend on the input at all (it did not change
    /// when the input was perturbed): every input gradient is exactly 0, so
    /// no attribution is meaningful.
    InputIndependent,
    /// The gradient exists but disagrees with finite differences or with
    /// Integrated Gradients' completeness (for candle: `max_pool2d`, whose
    /// backward divides by k²).
    CheckFailed,
}

impl std::fmt::Display for GradientFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GradientFault::Detached => "does not reach the input",
            GradientFault::InputIndependent => "is zero: the output does not depend on the input",
            GradientFault::CheckFailed => "failed its check",
        })
    }
}

impl SalienceError {
    /// Shorthand for [`SalienceError::InvalidParameter`].
    pub fn invalid(name: &str, value: impl std::fmt::Display, reason: &str) -> Self {
        SalienceError::InvalidParameter {
            name: name.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Shorthand for [`SalienceError::ShapeMismatch`].
    pub fn shape(context: &str, expected: impl Into<String>, found: &[usize]) -> Self {
        SalienceError::ShapeMismatch {
            context: context.to_string(),
            expected: expected.into(),
            found: found.to_vec(),
        }
    }
}
