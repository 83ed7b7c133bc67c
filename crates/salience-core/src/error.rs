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

/// A boxed error kept as the [`std::error::Error::source`] of a
/// [`SalienceError`] (a candle error, an [`std::io::Error`], a decoder's
/// error, ...): downcast it to reach the original type.
pub type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every error a salience function can return. Bad input is always reported
/// through this type, never by a panic and never by NaN in the output.
///
/// What each variant means:
///
/// | variant | meaning |
/// |---|---|
/// | [`ShapeMismatch`](Self::ShapeMismatch) | an array has the wrong shape or rank |
/// | [`NonFinite`](Self::NonFinite) | an input holds NaN or ±∞ |
/// | [`Empty`](Self::Empty) | an input that must not be empty is empty |
/// | [`DegenerateMap`](Self::DegenerateMap) | a map cannot be normalized (constant, all zero, ...) |
/// | [`InvalidParameter`](Self::InvalidParameter) | a config value is outside its range |
/// | [`TargetOutOfRange`](Self::TargetOutOfRange), [`TargetCount`](Self::TargetCount) | bad target classes |
/// | [`Unsupported`](Self::Unsupported) | a method does not apply to a model's architecture (LRP on pre-activation batch norms, AttnLRP without attention, ...) |
/// | [`Gradient`](Self::Gradient) | an input gradient is missing or fails its check |
/// | [`Model`](Self::Model) | a user's model misbehaved (wrong output shape, a failed call) |
/// | [`Solver`](Self::Solver) | a numerical solver failed (the QP, a factorization); [`SolverStatus`] says why |
/// | [`Backend`](Self::Backend) | the tensor backend (candle) or an array library failed; the original error is the [`source`](std::error::Error::source) |
/// | [`Io`](Self::Io) | reading or writing a file failed; the [`std::io::Error`] (or the parser's error) is the source |
/// | [`DatasetMissing`](Self::DatasetMissing) | a dataset file is absent; says which package ships it |
/// | [`Format`](Self::Format) | a file or buffer is malformed (bad magic number, inconsistent dimensions) |
/// | [`Image`](Self::Image) | an image file cannot be decoded ([`ImageFault`] says why) |
/// | [`UnreadableImages`](Self::UnreadableImages) | files of an image folder cannot be read, each with its reason |
///
/// The `Display` of every variant is one line; where an underlying error
/// exists it is kept whole as the `source` (its first line is repeated in
/// the `Display`), so `{:?}` and the `source()` chain show all of it.
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
    /// A method does not apply to a model's architecture: LRP on batch
    /// norms that cannot be canonized (DenseNet), AttnLRP on a model
    /// without attention, a method that needs a layer the model lacks.
    #[error("{method} does not apply to {model}: {reason}")]
    Unsupported {
        /// The method (explainer) name.
        method: String,
        /// The model or architecture, in words.
        model: String,
        /// Why, and what to use instead.
        reason: String,
    },
    /// Reading or writing a file failed. `source` is the
    /// [`std::io::Error`]; a file that reads but does not parse (a `.npy`
    /// header, a JSON line) is an error of kind
    /// [`InvalidData`](std::io::ErrorKind::InvalidData) wrapping the
    /// parser's error ([`SalienceError::io_invalid`]).
    #[error("{action} {path}: {source}")]
    Io {
        /// "reading" or "writing".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A dataset file is not there.
    #[error(
        "dataset file {path} not found: install the Debian package `{package}` \
         (apt-get install {package}) or point SALIENCE_FASHION_MNIST to a folder with the IDX files"
    )]
    DatasetMissing {
        /// The file that was looked for.
        path: PathBuf,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A file or buffer is not what it claims to be (bad magic number,
    /// dimensions that disagree with the length, inconsistent files).
    #[error("malformed {what}: {reason}")]
    Format {
        /// Which file or buffer.
        what: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// An image file cannot be decoded.
    #[error("image {path}: {fault}: {detail}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        fault: ImageFault,
        /// The decoder's or the check's words.
        detail: String,
    },
    /// Files of an image folder cannot be read: every one of them, with
    /// its reason.
    #[error("{} file(s) in {folder} cannot be read: {}", files.len(), list_files(files))]
    UnreadableImages {
        /// The folder.
        folder: PathBuf,
        /// Each unreadable file and why.
        files: Vec<(PathBuf, String)>,
    },
    /// The model (a user's implementation of [`crate::Model`]) failed.
    #[error("model error: {0}")]
    Model(String),
    /// A numerical solver failed: which one, a typed [`SolverStatus`] to
    /// match on, and the evidence in words.
    #[error("solver error: {solver}: {status}: {detail}")]
    Solver {
        /// The solver, in words (`"clarabel"`, `"pivoted Cholesky"`,
        /// `"conjugate gradient"`, ...).
        solver: &'static str,
        /// Why it failed.
        status: SolverStatus,
        /// The evidence (iterations, the solver's own status, a residual)
        /// and the way out where one is known.
        detail: String,
    },
    /// A backend (candle, ndarray, an encoder, ...) failed. `source` is the
    /// original error, kept whole (for candle: its inner errors and any
    /// backtrace); `None` for a failed internal invariant of the backend
    /// glue (a buffer that should be contiguous and is not).
    #[error("backend error: {context}{}", first_line(source.as_deref()))]
    Backend {
        /// What was being done, and how to fix it where known.
        context: String,
        /// The backend's error.
        #[source]
        source: Option<BoxedError>,
    },
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

/// `": <first line of e>"`, or nothing without `e`.
fn first_line(e: Option<&(dyn std::error::Error + Send + Sync + 'static)>) -> String {
    match e {
        Some(e) => {
            let text = e.to_string();
            format!(": {}", text.lines().next().unwrap_or("").trim())
        }
        None => String::new(),
    }
}

fn list_files(files: &[(PathBuf, String)]) -> String {
    let v: Vec<String> = files
        .iter()
        .map(|(p, why)| format!("{} ({why})", p.display()))
        .collect();
    v.join("; ")
}

/// Why a numerical solver failed ([`SalienceError::Solver`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SolverStatus {
    /// No point satisfies the constraints (clarabel: primal or dual
    /// infeasible, also at reduced accuracy).
    Infeasible,
    /// The iteration limit was reached before convergence (clarabel's
    /// `MaxIterations`, a conjugate-gradient solve that did not reach its
    /// tolerance).
    MaxIterations,
    /// The time limit was reached.
    MaxTime,
    /// The solver stopped making progress (clarabel's
    /// `InsufficientProgress`).
    InsufficientProgress,
    /// Numerical breakdown: the solver reported a numerical error, or its
    /// result is not finite.
    NumericalError,
    /// The solver rejected the problem data before iterating.
    SetupFailed,
    /// A system matrix is singular (or not positive definite where it must
    /// be), so the solution is not unique or does not exist.
    Singular,
    /// An iterative training diverged: its iterate became non-finite.
    Diverged,
    /// The solver stopped with a point that is not a valid answer (weights
    /// without a positive entry, no candidate found).
    InvalidSolution,
    /// Any other termination (clarabel: unsolved, stopped by a callback).
    Other,
}

impl std::fmt::Display for SolverStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SolverStatus::Infeasible => "infeasible",
            SolverStatus::MaxIterations => "iteration limit reached",
            SolverStatus::MaxTime => "time limit reached",
            SolverStatus::InsufficientProgress => "insufficient progress",
            SolverStatus::NumericalError => "numerical error",
            SolverStatus::SetupFailed => "setup failed",
            SolverStatus::Singular => "singular system",
            SolverStatus::Diverged => "diverged",
            SolverStatus::InvalidSolution => "invalid solution",
            SolverStatus::Other => "stopped",
        })
    }
}

/// What is wrong with an image file ([`SalienceError::Image`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageFault {
    /// The file has zero bytes, or is not a regular file.
    Empty,
    /// The data ends before the image does.
    Truncated,
    /// The data is not a valid PNG or JPEG.
    Corrupt,
    /// Not PNG or JPEG, or a variant of them the decoder does not support.
    Unsupported,
    /// The header declares more pixels (or the file has more bytes) than
    /// the loader's cap.
    TooLarge,
}

impl std::fmt::Display for ImageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageFault::Empty => "empty file",
            ImageFault::Truncated => "truncated",
            ImageFault::Corrupt => "corrupt",
            ImageFault::Unsupported => "unsupported format",
            ImageFault::TooLarge => "too large",
        })
    }
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

    /// [`SalienceError::Backend`] keeping `source` (a candle error, an
    /// ndarray `ShapeError`, ...) as the error's source; `context` says what
    /// was being done.
    ///
    /// ```
    /// use std::error::Error;
    /// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk on fire\nmore");
    /// let e = salience_core::SalienceError::backend("encoding", io);
    /// assert_eq!(e.to_string(), "backend error: encoding: disk on fire");
    /// assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("disk on fire\nmore"));
    /// ```
    pub fn backend(context: impl Into<String>, source: impl Into<BoxedError>) -> Self {
        SalienceError::Backend {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// [`SalienceError::Backend`] without an underlying error: an internal
    /// invariant of the backend glue failed (a buffer that should be
    /// contiguous is not, a lock is poisoned).
    pub fn backend_msg(context: impl Into<String>) -> Self {
        SalienceError::Backend {
            context: context.into(),
            source: None,
        }
    }

    /// [`SalienceError::Solver`]: `solver` stopped with `status`; `detail`
    /// gives the evidence.
    ///
    /// ```
    /// use salience_core::{SalienceError, SolverStatus};
    /// let e = SalienceError::solver("clarabel", SolverStatus::MaxIterations, "after 1 iterations");
    /// assert!(matches!(e, SalienceError::Solver { status: SolverStatus::MaxIterations, .. }));
    /// assert_eq!(
    ///     e.to_string(),
    ///     "solver error: clarabel: iteration limit reached: after 1 iterations"
    /// );
    /// ```
    pub fn solver(solver: &'static str, status: SolverStatus, detail: impl Into<String>) -> Self {
        SalienceError::Solver {
            solver,
            status,
            detail: detail.into(),
        }
    }

    /// [`SalienceError::Unsupported`]: `method` does not apply to `model`.
    pub fn unsupported(
        method: impl Into<String>,
        model: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        SalienceError::Unsupported {
            method: method.into(),
            model: model.into(),
            reason: reason.into(),
        }
    }

    /// [`SalienceError::Io`]: `action` ("reading", "writing") on `path`
    /// failed with `source`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SalienceError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// [`SalienceError::Io`] for a file whose contents do not parse:
    /// `source` (the parser's error, or a message) is wrapped in an
    /// [`std::io::Error`] of kind [`InvalidData`](std::io::ErrorKind::InvalidData)
    /// (reach it with [`std::io::Error::get_ref`]).
    pub fn io_invalid(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: impl Into<BoxedError>,
    ) -> Self {
        Self::io(
            action,
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, source),
        )
    }

    /// [`SalienceError::Format`]: `what` is malformed because of `reason`.
    pub fn format(what: impl Into<String>, reason: impl Into<String>) -> Self {
        SalienceError::Format {
            what: what.into(),
            reason: reason.into(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn missing_dataset_names_the_package_and_path() {
        let e = SalienceError::DatasetMissing {
            path: PathBuf::from("/nowhere/x.gz"),
            package: "dataset-fashion-mnist",
        };
        let s = e.to_string();
        assert!(
            s.contains("dataset-fashion-mnist") && s.contains("/nowhere/x.gz"),
            "{s}"
        );
        assert!(s.contains("apt-get install dataset-fashion-mnist"), "{s}");
    }

    #[test]
    fn io_keeps_the_io_error_as_source() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = SalienceError::io("reading", "/a/b.npy", io);
        assert_eq!(e.to_string(), "reading /a/b.npy: no such file");
        let src = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(src.map(|s| s.kind()), Some(std::io::ErrorKind::NotFound));
        let bad = SalienceError::io_invalid("reading", "/a/b.npy", "bad magic");
        match &bad {
            SalienceError::Io { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::InvalidData);
                assert_eq!(source.to_string(), "bad magic");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backend_display_is_one_line_and_the_source_is_whole() {
        let inner = std::io::Error::other("first line\n  second line\nbacktrace: ...");
        let e = SalienceError::backend("candle", inner);
        assert_eq!(e.to_string(), "backend error: candle: first line");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("first line\n  second line\nbacktrace: ...")
        );
        assert!(format!("{e:?}").contains("second line"));
        let bare = SalienceError::backend_msg("buffer not contiguous");
        assert_eq!(bare.to_string(), "backend error: buffer not contiguous");
        assert!(bare.source().is_none());
    }

    #[test]
    fn unsupported_and_image_messages() {
        let e = SalienceError::unsupported("LRP", "DenseNet", "pre-activation batch norms");
        assert_eq!(
            e.to_string(),
            "LRP does not apply to DenseNet: pre-activation batch norms"
        );
        let e = SalienceError::UnreadableImages {
            folder: PathBuf::from("/imgs"),
            files: vec![
                (PathBuf::from("/imgs/a.png"), "truncated".into()),
                (PathBuf::from("/imgs/b.jpg"), "corrupt".into()),
            ],
        };
        assert_eq!(
            e.to_string(),
            "2 file(s) in /imgs cannot be read: /imgs/a.png (truncated); /imgs/b.jpg (corrupt)"
        );
        let e = SalienceError::Image {
            path: PathBuf::from("/x.png"),
            fault: ImageFault::Truncated,
            detail: "ends at byte 10".into(),
        };
        assert_eq!(e.to_string(), "image /x.png: truncated: ends at byte 10");
    }

    #[test]
    fn the_error_is_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<SalienceError>();
    }
}
