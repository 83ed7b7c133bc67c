//! The gradient core: input gradients of the target logit, evaluated in
//! chunks so that memory stays flat however many points are evaluated.
//!
//! Every gradient explainer reduces to *points*: each input expands into
//! some number of points (1 for Saliency, `n_steps` path points for
//! Integrated Gradients, …). Points are generated chunk by chunk into one
//! buffer of `batch_size` inputs, which becomes a [`candle_core::Var`]; the
//! target logit of every row is selected with `gather`, summed, and
//! differentiated with one `backward()` per chunk. Samples of a batch do
//! not interact (eval-mode models), so the gradient of the sum with respect
//! to row `b` is the gradient of row `b`'s own target logit.

pub mod expected_gradients;
pub mod gradient_check;
pub mod input_x_gradient;
pub mod integrated_gradients;
pub mod quadrature;
pub mod saliency;

use crate::model::classifier::Classifier;
use crate::model::convert::{candle_error, model_call_error, tensor_to_vec};
use candle_core::{Tensor, Var};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rand_distr::{Distribution, StandardNormal};
use salience_core::batch::{per_sample_bytes, sample_bytes, Pass};
use salience_core::{BatchSize, GradientFault, Result, SalienceError};

/// The most points per forward/backward pass of a classifier that does
/// not say otherwise ([`Classifier::preferred_batch_size`]): the cap of
/// [`BatchSize::Auto`].
pub const DEFAULT_BATCH_SIZE: usize = 64;

/// The chunk size for `n_points` points of per-sample shape
/// `sample_shape` through `clf` in a `pass`: [`BatchSize::resolve`] with the
/// classifier's [`Classifier::activation_bytes`] (a shape probe for staged
/// models, run once per call) and its preferred batch size as the cap of
/// `Auto`. A [`SalienceError::MemoryBudget`] error comes before anything is
/// allocated or differentiated.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::batch::{with_memory_budget, Pass};
/// use salience_core::BatchSize;
/// use salience_explain::{gradient::chunk_size, ModuleClassifier};
/// let w = Tensor::new(&[[1.0f32, 2.0]], &Device::Cpu).unwrap();
/// let clf = ModuleClassifier::new(candle_nn::Linear::new(w, None), 1);
/// // No estimate: 1 MiB (the floor) + 4 × 8 bytes per point.
/// let per_point = (1 << 20) + 32;
/// let auto = with_memory_budget(10 * per_point, || {
///     chunk_size(&clf, BatchSize::Auto, &[2], 100, Pass::ForwardBackward)
/// })?;
/// assert_eq!(auto, 10);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn chunk_size<C: Classifier + ?Sized>(
    clf: &C,
    batch_size: BatchSize,
    sample_shape: &[usize],
    n_points: usize,
    pass: Pass,
) -> Result<usize> {
    chunk_of_rows(clf, batch_size, sample_shape, n_points, pass, 1)
}

/// [`chunk_size`] of a forward + backward pass over `n_points` points
/// shaped like `info`'s samples.
pub(crate) fn gradient_chunk<C: Classifier + ?Sized>(
    clf: &C,
    batch_size: BatchSize,
    info: &BatchInfo,
    n_points: usize,
) -> Result<usize> {
    chunk_size(
        clf,
        batch_size,
        &info.sample_shape,
        n_points,
        Pass::ForwardBackward,
    )
}

/// [`chunk_size`] for points that each put `rows` rows through the model
/// (DeepLIFT: an input and its baseline).
pub(crate) fn chunk_of_rows<C: Classifier + ?Sized>(
    clf: &C,
    batch_size: BatchSize,
    sample_shape: &[usize],
    n_points: usize,
    pass: Pass,
    rows: u64,
) -> Result<usize> {
    let input = sample_bytes(sample_shape);
    let per = per_sample_bytes(clf.activation_bytes(sample_shape), input, pass);
    batch_size.resolve(
        per.saturating_mul(rows),
        n_points,
        clf.preferred_batch_size(),
    )
}

/// A validated batch: its size, per-sample shape and feature count.
#[derive(Debug, Clone)]
pub(crate) struct BatchInfo {
    pub n: usize,
    pub sample_shape: Vec<usize>,
    pub features: usize,
}

/// Validates explainer inputs `[N, ...]` (rank 2 to 4, non-empty, finite)
/// and targets (one per input, each below `num_classes`).
pub(crate) fn validate(
    inputs: &ArrayViewD<'_, f32>,
    targets: &[usize],
    num_classes: usize,
) -> Result<BatchInfo> {
    salience_perturb::check_explainer_inputs(inputs, targets, num_classes)?;
    let shape = inputs.shape();
    Ok(BatchInfo {
        n: shape[0],
        sample_shape: shape[1..].to_vec(),
        features: shape[1..].iter().product(),
    })
}

/// Checks an internal batch size.
pub(crate) fn check_batch_size(batch_size: usize) -> Result<()> {
    salience_core::validate::check_count("batch_size", batch_size)
}

/// The inputs in standard layout (borrowed when already contiguous).
pub(crate) fn contiguous<'a>(inputs: &'a ArrayViewD<'_, f32>) -> ndarray::CowArray<'a, f32, IxDyn> {
    inputs.as_standard_layout()
}

/// The flat values of a standard-layout array (what [`contiguous`] returns).
pub(crate) fn flat_slice<'a>(a: &'a ndarray::CowArray<'_, f32, IxDyn>) -> Result<&'a [f32]> {
    a.as_slice()
        .ok_or_else(|| SalienceError::backend_msg("input not contiguous"))
}

/// The point source of plain input batches: point p is input p; keeps
/// either each input's gradient (`grads`) or its target logit.
struct InputRows<'a> {
    data: &'a [f32],
    f: usize,
    targets: &'a [usize],
    grads: bool,
    out: Vec<f32>,
}

impl PointSource for InputRows<'_> {
    fn fill(&mut self, p: usize, out: &mut [f32]) -> Result<()> {
        out.copy_from_slice(&self.data[p * self.f..(p + 1) * self.f]);
        Ok(())
    }
    fn target(&self, p: usize) -> usize {
        self.targets[p]
    }
    fn consume(&mut self, p: usize, grad: &[f32], logit: f32) -> Result<()> {
        if self.grads {
            self.out[p * self.f..(p + 1) * self.f].copy_from_slice(grad);
        } else {
            self.out[p] = logit;
        }
        Ok(())
    }
}

/// Produces the points of a gradient pass and consumes their gradients.
pub(crate) trait PointSource {
    /// Writes point `p` into `out` (one sample's features).
    fn fill(&mut self, p: usize, out: &mut [f32]) -> Result<()>;
    /// The target class of point `p`.
    fn target(&self, p: usize) -> usize;
    /// Receives the gradient of point `p`'s target logit and the logit.
    fn consume(&mut self, p: usize, grad: &[f32], logit: f32) -> Result<()>;
}

/// Runs `n_points` points through the classifier in chunks of
/// `batch_size`, with gradients (`with_grad`) or forward only (then
/// `consume` receives an empty gradient).
pub(crate) fn run_points<C: Classifier + ?Sized>(
    clf: &C,
    sample_shape: &[usize],
    n_points: usize,
    batch_size: usize,
    with_grad: bool,
    src: &mut dyn PointSource,
) -> Result<()> {
    check_batch_size(batch_size)?;
    let features: usize = sample_shape.iter().product();
    let k = clf.num_classes();
    let device = clf.device();
    let mut start = 0;
    while start < n_points {
        let len = (n_points - start).min(batch_size);
        let mut buf = vec![0f32; len * features];
        for (j, row) in buf.chunks_exact_mut(features).enumerate() {
            src.fill(start + j, row)?;
        }
        if let Some((index, &value)) = buf.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SalienceError::NonFinite {
                context: "generated model input".into(),
                index,
                value,
            });
        }
        let idx = (start..start + len)
            .map(|p| {
                let t = src.target(p);
                u32::try_from(t).map_err(|_| SalienceError::invalid("target", t, "exceeds u32"))
            })
            .collect::<Result<Vec<u32>>>()?;
        let mut shape = Vec::with_capacity(sample_shape.len() + 1);
        shape.push(len);
        shape.extend_from_slice(sample_shape);
        let idx_t = Tensor::from_vec(idx, (len, 1), device).map_err(candle_error)?;
        let (picked, grad) = if with_grad {
            let x = Var::from_vec(buf, shape, device).map_err(candle_error)?;
            let logits = clf
                .logits(x.as_tensor())
                .map_err(|e| model_call_error(e, x.dims()))?;
            check_logits(&logits, len, k)?;
            let picked = logits.gather(&idx_t, 1).map_err(candle_error)?;
            let grads = picked
                .sum_all()
                .and_then(|s| s.backward())
                .map_err(candle_error)?;
            let g = match grads.get(x.as_tensor()) {
                Some(g) => tensor_to_vec(g)?,
                // No gradient reached the input: never read that as 0.
                None => {
                    let logits_of = |t: &Tensor| clf.logits(t);
                    return Err(missing_gradient(
                        &logits_of,
                        x.as_tensor(),
                        &idx_t,
                        &picked,
                        "input",
                    ));
                }
            };
            (picked, g)
        } else {
            let x = Tensor::from_vec(buf, shape, device).map_err(candle_error)?;
            let logits = clf.logits(&x).map_err(|e| model_call_error(e, x.dims()))?;
            check_logits(&logits, len, k)?;
            let picked = logits.gather(&idx_t, 1).map_err(candle_error)?;
            (picked, Vec::new())
        };
        let logit = tensor_to_vec(&picked)?;
        if let Some((index, &value)) = logit.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SalienceError::NonFinite {
                context: "model logits".into(),
                index: start + index,
                value,
            });
        }
        if let Some((index, &value)) = grad.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SalienceError::NonFinite {
                context: "model gradient".into(),
                index,
                value,
            });
        }
        for j in 0..len {
            let g = if with_grad {
                &grad[j * features..(j + 1) * features]
            } else {
                &[][..]
            };
            src.consume(start + j, g, logit[j])?;
        }
        start += len;
    }
    Ok(())
}

/// Why no gradient reached `x` (the input, or a layer's activations for
/// `what` = "layer `name`") of a chunk whose target logits (`logits_of(x)`
/// gathered at `idx`) are `picked`: they are recomputed on a perturbed copy of `x`
/// (fixed-seed Gaussian noise of 10 % of the chunk's largest magnitude, at
/// least 0.1). If any changes, the output depends on the input through an
/// op without a backward pass ([`GradientFault::Detached`]); otherwise the
/// output ignores the input ([`GradientFault::InputIndependent`]).
pub(crate) fn missing_gradient(
    logits_of: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    x: &Tensor,
    idx: &Tensor,
    picked: &Tensor,
    what: &str,
) -> SalienceError {
    let probe = || -> Result<bool> {
        let values = tensor_to_vec(x)?;
        let scale = 0.1 * values.iter().fold(1f32, |m, v| m.max(v.abs()));
        let mut g = salience_core::seed::rng(PROBE_SEED);
        let noisy: Vec<f32> = values
            .iter()
            .map(|v| {
                let z: f32 = StandardNormal.sample(&mut g);
                v + scale * z
            })
            .collect::<Vec<f32>>();
        let xt = Tensor::from_vec(noisy, x.dims(), x.device()).map_err(candle_error)?;
        let other = logits_of(&xt)
            .and_then(|l| l.gather(idx, 1))
            .map_err(candle_error)?;
        let (a, b) = (tensor_to_vec(picked)?, tensor_to_vec(&other)?);
        Ok(a.iter().zip(&b).any(|(a, b)| a != b))
    };
    match probe() {
        Ok(true) => SalienceError::Gradient {
            fault: GradientFault::Detached,
            detail: format!(
                "the target logits change when the {what} is perturbed, but no gradient \
                 reaches the {what}: an op without a backward pass cuts the graph. In candle \
                 0.11 these are {NO_BACKWARD_OPS}; use {DIFFERENTIABLE_REPLACEMENTS} instead"
            ),
        },
        Ok(false) => SalienceError::Gradient {
            fault: GradientFault::InputIndependent,
            detail: format!(
                "the target logits did not change when the {what} was perturbed and no \
                 gradient path reaches the {what}, so every attribution would be 0"
            ),
        },
        Err(e) => e,
    }
}

/// The seed of the perturbation [`missing_gradient`] probes with.
const PROBE_SEED: u64 = 0x9AD_C0DE;

/// candle 0.11 ops that silently detach their output from the graph.
pub(crate) const NO_BACKWARD_OPS: &str = "candle_nn::ops::layer_norm, rms_norm and \
     softmax_last_dim, the fused paths of candle_nn::LayerNorm / RmsNorm, rotary embeddings, \
     and Tensor::detach";

/// The project's differentiable replacements of [`NO_BACKWARD_OPS`].
pub(crate) const DIFFERENTIABLE_REPLACEMENTS: &str = "salience_explain::ops::layer_norm, \
     ops::rms_norm and ops::softmax (built from differentiable primitives)";

fn check_logits(logits: &Tensor, n: usize, k: usize) -> Result<()> {
    if logits.dims() != [n, k] {
        return Err(SalienceError::Model(format!(
            "classifier returned logits of shape {:?} for a batch of {n} (expected [{n}, {k}])",
            logits.dims()
        )));
    }
    Ok(())
}

/// The target logits `f_t(x)` of a batch (forward passes only, chunked).
pub(crate) fn target_logits<C: Classifier + ?Sized>(
    clf: &C,
    data: &[f32],
    info: &BatchInfo,
    targets: &[usize],
    batch_size: usize,
) -> Result<Vec<f32>> {
    let mut src = InputRows {
        data,
        f: info.features,
        targets,
        grads: false,
        out: vec![0.0; info.n],
    };
    run_points(clf, &info.sample_shape, info.n, batch_size, false, &mut src)?;
    Ok(src.out)
}

/// Gradients of each input's target logit, `[N, ...]` like the inputs,
/// computed in chunks of `batch_size` inputs (one forward and one backward
/// pass per chunk; [`BatchSize::Auto`] within the memory budget, see
/// [`chunk_size`]).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::{gradient::input_gradients, ModuleClassifier};
/// let w = Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap();
/// let clf = ModuleClassifier::new(candle_nn::Linear::new(w, None), 2);
/// let x = ndarray::array![[0.5f32, 0.5], [1.0, 1.0]].into_dyn();
/// let g = input_gradients(&clf, x.view(), &[0, 1], salience_core::BatchSize::Auto)?;
/// assert_eq!(g, ndarray::array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn input_gradients<C: Classifier + ?Sized>(
    clf: &C,
    inputs: ArrayViewD<'_, f32>,
    targets: &[usize],
    batch_size: BatchSize,
) -> Result<ArrayD<f32>> {
    let info = validate(&inputs, targets, clf.num_classes())?;
    let batch_size = gradient_chunk(clf, batch_size, &info, info.n)?;
    let x = contiguous(&inputs);
    let data = flat_slice(&x)?;
    let mut src = InputRows {
        data,
        f: info.features,
        targets,
        grads: true,
        out: vec![0.0; info.n * info.features],
    };
    run_points(clf, &info.sample_shape, info.n, batch_size, true, &mut src)?;
    ArrayD::from_shape_vec(IxDyn(inputs.shape()), src.out)
        .map_err(|e| SalienceError::backend("ndarray", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ModuleClassifier, Saliency};
    use candle_core::Tensor;
    use salience_core::batch::with_memory_budget;
    use salience_core::{Explainer, Seeds};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Issue 26: a budget too small for one point is a typed error before
    /// the classifier is called (a model without an estimate: the 1 MiB
    /// floor plus 4 × 8 bytes per point), for Auto and for a fixed chunk
    /// alike; a budget of 3 points makes chunks of at most 3.
    #[test]
    fn a_budget_below_one_point_fails_before_any_model_call() {
        let calls = Arc::new(AtomicUsize::new(0));
        let widest = Arc::new(AtomicUsize::new(0));
        let (c, w) = (Arc::clone(&calls), Arc::clone(&widest));
        let clf = ModuleClassifier::new(
            move |x: &Tensor| {
                c.fetch_add(1, Ordering::SeqCst);
                w.fetch_max(x.dims()[0], Ordering::SeqCst);
                x.sum_keepdim(1)
            },
            1,
        );
        let x = ndarray::Array2::from_shape_fn((7, 2), |(i, j)| (i + j) as f32).into_dyn();
        let per_point = (1u64 << 20) + 32;
        for bs in [BatchSize::Auto, BatchSize::fixed(2).unwrap()] {
            let e = with_memory_budget(per_point - 1, || {
                let cfg = crate::SaliencyConfig {
                    batch_size: bs,
                    ..Default::default()
                };
                Saliency::with_config(&clf, cfg).explain(x.view(), &[0; 7], Seeds::base(0))
            });
            assert!(
                matches!(e, Err(SalienceError::MemoryBudget { .. })),
                "{e:?}"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let g = with_memory_budget(3 * per_point, || {
            input_gradients(&clf, x.view(), &[0; 7], BatchSize::Auto)
        })
        .unwrap();
        assert!(g.iter().all(|&v| v == 1.0));
        assert_eq!(calls.load(Ordering::SeqCst), 3); // 3 + 3 + 1
        assert_eq!(widest.load(Ordering::SeqCst), 3);
    }
}
