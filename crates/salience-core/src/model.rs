//! The black-box [`Model`] seam and chunked evaluation.
//!
//! # Extension point
//! Implement [`Model`] to plug any classifier into salience's
//! perturbation-based explainers, metrics and optimizer: a candle network
//! (salience-explain provides the adapter), an ONNX model run by `ort` or
//! `tract`, a `burn` module, or a plain Rust function ([`FnModel`]).
//! The contract:
//! * `forward` takes a batch `[N, ...]` (images `[N, C, H, W]`, tabular
//!   `[N, D]`) of f32 and returns scores `[N, num_classes]` (logits or
//!   probabilities — whatever the caller should explain).
//! * It must be deterministic and must not keep state between calls.
//! * N is at most the caller's chunk size, usually
//!   [`Model::preferred_batch_size`]; salience never sends one forward per
//!   perturbation.

use crate::batch::{model_chunk, BatchSize};
use crate::error::{Result, SalienceError};
use crate::validate::check_finite;
use ndarray::{s, Array2, ArrayD, ArrayView2, ArrayViewD, ArrayViewMutD, Axis, IxDyn};
use std::sync::Arc;

/// A black-box classifier over ndarray batches. See the [module docs](self).
pub trait Model: Send + Sync {
    /// Scores `[N, num_classes]` for a batch `[N, ...]`.
    fn forward(&self, inputs: ArrayViewD<'_, f32>) -> Result<Array2<f32>>;

    /// Number of output classes.
    fn num_classes(&self) -> usize;

    /// The batch size this model runs best at; callers evaluate in chunks of
    /// at most this many inputs unless told otherwise.
    fn preferred_batch_size(&self) -> usize {
        64
    }

    /// The bytes of the intermediate tensors of one sample's forward pass
    /// on inputs of per-sample shape `sample_shape`, if the model can tell
    /// (`None` by default). [`crate::BatchSize::Auto`] sizes chunks from it
    /// ([`crate::batch`]); without it a conservative multiple of the input
    /// size is assumed.
    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        let _ = sample_shape;
        None
    }
}

impl<M: Model + ?Sized> Model for &M {
    fn forward(&self, inputs: ArrayViewD<'_, f32>) -> Result<Array2<f32>> {
        (**self).forward(inputs)
    }
    fn num_classes(&self) -> usize {
        (**self).num_classes()
    }
    fn preferred_batch_size(&self) -> usize {
        (**self).preferred_batch_size()
    }
    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        (**self).activation_bytes(sample_shape)
    }
}

impl<M: Model + ?Sized> Model for Box<M> {
    fn forward(&self, inputs: ArrayViewD<'_, f32>) -> Result<Array2<f32>> {
        (**self).forward(inputs)
    }
    fn num_classes(&self) -> usize {
        (**self).num_classes()
    }
    fn preferred_batch_size(&self) -> usize {
        (**self).preferred_batch_size()
    }
    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        (**self).activation_bytes(sample_shape)
    }
}

impl<M: Model + ?Sized> Model for Arc<M> {
    fn forward(&self, inputs: ArrayViewD<'_, f32>) -> Result<Array2<f32>> {
        (**self).forward(inputs)
    }
    fn num_classes(&self) -> usize {
        (**self).num_classes()
    }
    fn preferred_batch_size(&self) -> usize {
        (**self).preferred_batch_size()
    }
    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        (**self).activation_bytes(sample_shape)
    }
}

/// A [`Model`] from a closure `[N, ...] -> [N, classes]`.
///
/// ```
/// use ndarray::{Array2, Axis};
/// use salience_core::{FnModel, Model};
/// // Two "classes": the sum and the negated sum of the features.
/// let m = FnModel::new(2, |x| {
///     let s = x.sum_axis(Axis(1));
///     let mut out = Array2::zeros((s.len(), 2));
///     for (i, v) in s.iter().enumerate() {
///         out[[i, 0]] = *v;
///         out[[i, 1]] = -*v;
///     }
///     Ok(out)
/// });
/// let y = m.forward(ndarray::array![[1.0f32, 2.0]].into_dyn().view()).unwrap();
/// assert_eq!(y, ndarray::array![[3.0, -3.0]]);
/// ```
pub struct FnModel<F> {
    f: F,
    num_classes: usize,
    batch_size: usize,
}

impl<F> FnModel<F>
where
    F: Fn(ArrayViewD<'_, f32>) -> Result<Array2<f32>> + Send + Sync,
{
    /// Wraps `f`, which returns `num_classes` scores per input.
    pub fn new(num_classes: usize, f: F) -> Self {
        FnModel {
            f,
            num_classes,
            batch_size: 64,
        }
    }

    /// Sets the preferred batch size; 0 is an error
    /// ([`SalienceError::InvalidParameter`]).
    ///
    /// ```
    /// use salience_core::{FnModel, Model};
    /// let m = FnModel::new(1, |x| Ok(ndarray::Array2::zeros((x.shape()[0], 1))));
    /// assert_eq!(m.with_batch_size(8)?.preferred_batch_size(), 8);
    /// let m = FnModel::new(1, |x| Ok(ndarray::Array2::zeros((x.shape()[0], 1))));
    /// assert!(m.with_batch_size(0).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_batch_size(mut self, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(SalienceError::invalid(
                "batch_size",
                0,
                "must be at least 1",
            ));
        }
        self.batch_size = batch_size;
        Ok(self)
    }
}

impl<F> Model for FnModel<F>
where
    F: Fn(ArrayViewD<'_, f32>) -> Result<Array2<f32>> + Send + Sync,
{
    fn forward(&self, inputs: ArrayViewD<'_, f32>) -> Result<Array2<f32>> {
        (self.f)(inputs)
    }
    fn num_classes(&self) -> usize {
        self.num_classes
    }
    fn preferred_batch_size(&self) -> usize {
        self.batch_size
    }
}

/// A linear reference model `f(x) = W · vec(x) + b` with `W` of shape
/// `[classes, features]`. Its exact attributions are known in closed form
/// (gradient = `W[target]`, Integrated Gradients = `(x − x′) ⊙ W[target]`),
/// which makes it the analytic test case of every crate.
///
/// ```
/// use ndarray::array;
/// use salience_core::{LinearModel, Model};
/// let m = LinearModel::new(array![[1.0f32, 2.0], [0.0, -1.0]], array![0.5f32, 0.0]).unwrap();
/// let y = m.forward(array![[1.0f32, 1.0]].into_dyn().view()).unwrap();
/// assert_eq!(y, array![[3.5, -1.0]]);
/// ```
#[derive(Debug, Clone)]
pub struct LinearModel {
    weights: Array2<f32>,
    bias: ndarray::Array1<f32>,
}

impl LinearModel {
    /// `weights`: `[classes, features]`; `bias`: `[classes]`.
    pub fn new(weights: Array2<f32>, bias: ndarray::Array1<f32>) -> Result<Self> {
        if weights.nrows() == 0 || weights.ncols() == 0 {
            return Err(SalienceError::Empty("linear model weights".into()));
        }
        if bias.len() != weights.nrows() {
            return Err(SalienceError::shape(
                "linear model bias",
                format!("[{}]", weights.nrows()),
                bias.shape(),
            ));
        }
        check_finite(&weights, "linear model weights")?;
        check_finite(&bias, "linear model bias")?;
        Ok(LinearModel { weights, bias })
    }

    /// The weight matrix `[classes, features]`.
    pub fn weights(&self) -> ArrayView2<'_, f32> {
        self.weights.view()
    }

    /// The bias `[classes]`.
    pub fn bias(&self) -> ndarray::ArrayView1<'_, f32> {
        self.bias.view()
    }
}

impl Model for LinearModel {
    /// `W · vec(x) + b` per sample. Errors on a non-finite input
    /// ([`SalienceError::NonFinite`] naming "LinearModel input") and when
    /// finite inputs overflow f32 in the product (e.g. 1e38 · 2), so no
    /// NaN or infinity is ever returned as a score.
    fn forward(&self, inputs: ArrayViewD<'_, f32>) -> Result<Array2<f32>> {
        let x = flatten_batch(inputs, self.weights.ncols(), "LinearModel input")?;
        check_finite(&x, "LinearModel input")?;
        let y = x.dot(&self.weights.t()) + &self.bias;
        check_finite(
            &y,
            "LinearModel output (finite inputs overflowed f32 in W·x + b)",
        )?;
        Ok(y)
    }
    fn num_classes(&self) -> usize {
        self.weights.nrows()
    }
}

/// Views `[N, ...]` as `[N, features]`, checking the feature count.
pub fn flatten_batch<'a>(
    inputs: ArrayViewD<'a, f32>,
    features: usize,
    context: &str,
) -> Result<ArrayView2<'a, f32>> {
    let shape = inputs.shape().to_vec();
    if shape.is_empty() {
        return Err(SalienceError::shape(context, "[N, ...]", &shape));
    }
    let n = shape[0];
    let p: usize = shape[1..].iter().product();
    if p != features || shape.len() < 2 {
        return Err(SalienceError::shape(
            context,
            format!("[N, ...] with {features} features per sample"),
            &shape,
        ));
    }
    if inputs.is_standard_layout() {
        inputs
            .into_shape_with_order((n, p))
            .map_err(|e| SalienceError::backend("ndarray", e))
    } else {
        Err(SalienceError::shape(
            context,
            "a standard-layout (C-contiguous) array",
            &shape,
        ))
    }
}

/// Evaluates `model` on `inputs` in chunks of `batch_size`, checking the
/// output shape and finiteness. `None` is [`BatchSize::Auto`] (the largest
/// chunk within the memory budget, at most the model's preferred size,
/// [`crate::batch`]); `Some(n)` is a fixed chunk, an error
/// ([`SalienceError::MemoryBudget`]) if it exceeds the budget; `Some(0)` is
/// an error ([`SalienceError::InvalidParameter`] naming `batch_size`), as
/// everywhere else in the workspace.
///
/// ```
/// use ndarray::array;
/// use salience_core::{model::forward_chunked, LinearModel};
/// let m = LinearModel::new(array![[1.0f32, 1.0]], array![0.0f32]).unwrap();
/// let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]].into_dyn();
/// let y = forward_chunked(&m, x.view(), Some(2)).unwrap();
/// assert_eq!(y.column(0).to_vec(), vec![3.0, 7.0, 11.0]);
/// ```
pub fn forward_chunked(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    batch_size: Option<usize>,
) -> Result<Array2<f32>> {
    let batch_size = check_batch_size(batch_size)?;
    let n = inputs.shape().first().copied().unwrap_or(0);
    if n == 0 {
        return Err(SalienceError::Empty("model inputs".into()));
    }
    let bs = model_chunk(model, batch_size, &inputs.shape()[1..], n)?;
    let c = model.num_classes();
    let mut out = Array2::<f32>::zeros((n, c));
    let mut start = 0;
    while start < n {
        let end = (start + bs).min(n);
        let chunk = inputs.slice_axis(Axis(0), (start..end).into());
        let y = model.forward(chunk)?;
        check_model_output(&y, end - start, c)?;
        out.slice_mut(s![start..end, ..]).assign(&y);
        start = end;
    }
    Ok(out)
}

/// Evaluates `model` on `n_total` inputs of per-sample shape `sample_shape`
/// that are *generated* chunk by chunk: `fill(start, buf)` writes inputs
/// `start .. start + buf.len_of(Axis(0))` into `buf`. One chunk buffer is
/// allocated and reused, so memory stays flat however many perturbations
/// are evaluated. Returns the scores `[n_total, classes]`. `batch_size` as
/// in [`forward_chunked`] (`None` = auto within the memory budget, `Some(0)`
/// an error).
///
/// ```
/// use ndarray::array;
/// use salience_core::{model::forward_generated, LinearModel};
/// let m = LinearModel::new(array![[1.0f32, 0.0]], array![0.0f32]).unwrap();
/// // Inputs i = [i, 0] for i in 0..5, in chunks of 2.
/// let y = forward_generated(&m, 5, &[2], Some(2), |start, mut buf| {
///     for (j, mut row) in buf.outer_iter_mut().enumerate() {
///         row[[0]] = (start + j) as f32;
///         row[[1]] = 0.0;
///     }
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(y.column(0).to_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
/// ```
pub fn forward_generated<F>(
    model: &dyn Model,
    n_total: usize,
    sample_shape: &[usize],
    batch_size: Option<usize>,
    mut fill: F,
) -> Result<Array2<f32>>
where
    F: FnMut(usize, ArrayViewMutD<'_, f32>) -> Result<()>,
{
    let batch_size = check_batch_size(batch_size)?;
    if n_total == 0 {
        return Err(SalienceError::Empty(
            "zero model evaluations requested".into(),
        ));
    }
    let bs = model_chunk(model, batch_size, sample_shape, n_total)?;
    let c = model.num_classes();
    let mut shape = vec![bs];
    shape.extend_from_slice(sample_shape);
    let fits = |dims: &[usize]| {
        dims.iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_some_and(|len| len <= isize::MAX as usize / 4)
    };
    if !fits(&shape) || !fits(&[n_total, c]) {
        return Err(SalienceError::invalid(
            "n_total, sample_shape",
            format!("{n_total}, {sample_shape:?}"),
            "the chunk buffer or the score matrix would overflow the address space",
        ));
    }
    let mut buf = ArrayD::<f32>::zeros(IxDyn(&shape));
    let mut out = Array2::<f32>::zeros((n_total, c));
    let mut start = 0;
    while start < n_total {
        let len = (n_total - start).min(bs);
        {
            let view = buf.slice_axis_mut(Axis(0), (0..len).into());
            fill(start, view)?;
        }
        let chunk = buf.slice_axis(Axis(0), (0..len).into());
        check_finite(&chunk, "generated model input")?;
        let y = model.forward(chunk)?;
        check_model_output(&y, len, c)?;
        out.slice_mut(s![start..start + len, ..]).assign(&y);
        start += len;
    }
    Ok(out)
}

/// The [`BatchSize`] of an optional chunk size: `None` is
/// [`BatchSize::Auto`], `Some(0)` an error.
fn check_batch_size(batch_size: Option<usize>) -> Result<BatchSize> {
    batch_size.map_or(Ok(BatchSize::Auto), BatchSize::fixed)
}

/// Checks a model's output: shape `[n, classes]`, all finite.
pub fn check_model_output(y: &Array2<f32>, n: usize, classes: usize) -> Result<()> {
    if y.shape() != [n, classes] {
        return Err(SalienceError::Model(format!(
            "model returned shape {:?} for a batch of {n} (expected [{n}, {classes}])",
            y.shape()
        )));
    }
    check_finite(y, "model output")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn model() -> LinearModel {
        LinearModel::new(array![[2.0f32, 1.0]], array![0.5f32]).unwrap()
    }

    /// Issue 19: NaN or 1e38 inputs gave non-finite logits as Ok.
    #[test]
    fn linear_model_rejects_non_finite_inputs_and_overflow() {
        let m = model();
        let nan = array![[1.0f32, f32::NAN]].into_dyn();
        match m.forward(nan.view()) {
            Err(SalienceError::NonFinite { context, index, .. }) => {
                assert!(context.contains("input"), "{context}");
                assert_eq!(index, 1);
            }
            other => panic!("{other:?}"),
        }
        let big = array![[1e38f32, 2e38]].into_dyn(); // 2e38 + 2e38 overflows
        match m.forward(big.view()) {
            Err(SalienceError::NonFinite { context, .. }) => {
                assert!(context.contains("output"), "{context}")
            }
            other => panic!("{other:?}"),
        }
        let ok = array![[1.0f32, 3.0]].into_dyn();
        assert_eq!(m.forward(ok.view()).unwrap(), array![[5.5f32]]);
    }

    /// Issue 19: `forward_chunked(.., Some(0))` silently used chunks of 1.
    #[test]
    fn a_chunk_size_of_zero_is_an_error() {
        let m = model();
        let x = array![[1.0f32, 3.0], [0.0, 0.0]].into_dyn();
        for r in [
            forward_chunked(&m, x.view(), Some(0)),
            forward_generated(&m, 2, &[2], Some(0), |_, _| Ok(())),
        ] {
            match r {
                Err(SalienceError::InvalidParameter { name, .. }) => assert_eq!(name, "batch_size"),
                other => panic!("{other:?}"),
            }
        }
        let y = forward_chunked(&m, x.view(), Some(1)).unwrap();
        assert_eq!(y, array![[5.5f32], [0.5]]);
        assert!(forward_generated(&m, usize::MAX, &[usize::MAX], None, |_, _| Ok(())).is_err());
    }

    /// Issue 26: a budget too small for one point is a typed error before
    /// the model is called or the chunk buffer allocated; Auto fits the
    /// budget (hand-computed: 1 MiB floor + 4 × 8 bytes per point).
    #[test]
    fn chunks_follow_the_memory_budget_and_fail_before_calling_the_model() {
        use crate::batch::with_memory_budget;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = AtomicUsize::new(0);
        let widest = AtomicUsize::new(0);
        let m = FnModel::new(1, |x| {
            calls.fetch_add(1, Ordering::SeqCst);
            widest.fetch_max(x.shape()[0], Ordering::SeqCst);
            Ok(Array2::zeros((x.shape()[0], 1)))
        });
        let x = ArrayD::<f32>::zeros(IxDyn(&[10, 2]));
        let per_point = (1u64 << 20) + 8 * 4;
        for r in [
            with_memory_budget(per_point - 1, || forward_chunked(&m, x.view(), None)),
            with_memory_budget(3 * per_point, || forward_chunked(&m, x.view(), Some(4))),
            with_memory_budget(per_point - 1, || {
                forward_generated(&m, 10, &[2], None, |_, _| Ok(()))
            }),
        ] {
            assert!(
                matches!(r, Err(SalienceError::MemoryBudget { .. })),
                "{r:?}"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        // 3 points fit: chunks of 3, 3, 3, 1.
        let y = with_memory_budget(3 * per_point, || forward_chunked(&m, x.view(), None)).unwrap();
        assert_eq!(y.shape(), &[10, 1]);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(widest.load(Ordering::SeqCst), 3);
    }
}
