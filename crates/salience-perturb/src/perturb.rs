//! The shared engine of the black-box perturbation explainers
//! ([`crate::Occlusion`], [`crate::FeatureAblation`], [`crate::Rise`],
//! [`crate::Lime`], [`crate::KernelShap`], [`crate::ShapleyValueSampling`]).
//!
//! Every method describes, per input sample, a sequence of perturbed inputs
//! (`counts[i]` of them for sample i). The engine walks all perturbations
//! of all samples in order, generates them lazily into a reused chunk
//! buffer through [`salience_core::model::forward_generated`], evaluates the
//! model one chunk of `batch_size` inputs at a time and hands each
//! perturbation's target score back to the method, in the same order
//! whatever the chunk size. Memory is one chunk buffer plus one block of
//! scores (16 chunks' worth), however many perturbations there are; LIME
//! and KernelSHAP also keep their n × M design matrix, which the
//! regression needs.

use crate::baseline::Baseline;
use crate::feature_mask::{FeatureGroups, FeatureMask};
use crate::AttributionsWithDelta;
use ndarray::ArrayViewD;
use salience_core::batch::{model_chunk, BatchSize};
use salience_core::model::forward_generated;
use salience_core::validate::{check_finite, check_nonempty_shape, check_targets};
use salience_core::{Model, Result, SalienceError, Seeds};

/// Stream offsets, so that one sample's baseline noise and perturbation
/// noise never share a generator.
pub(crate) const STREAM_PERTURB: u64 = 0x7065_7274;

/// A method's perturbations: input `k` of sample `i` and what to do with
/// its score.
pub(crate) trait PerturbationSource {
    /// Writes perturbation `k` of sample `i` into `out` (one sample's
    /// features, row-major).
    fn fill(&mut self, sample: usize, k: usize, out: &mut [f32]) -> Result<()>;
    /// Receives the model's score for the sample's target class on
    /// perturbation `k` of sample `i`. Called in increasing (i, k) order.
    fn consume(&mut self, sample: usize, k: usize, score: f32) -> Result<()>;
}

/// Validated inputs of a perturbation explainer: flat contiguous copies of
/// the inputs and of their baselines.
pub(crate) struct Prepared {
    /// Number of samples.
    pub n: usize,
    /// Per-sample shape.
    pub sample_shape: Vec<usize>,
    /// Features per sample.
    pub features: usize,
    /// Inputs, `n * features`, row-major.
    pub x: Vec<f32>,
    /// Baselines, `n * features`, row-major.
    pub base: Vec<f32>,
    /// Target class of each sample.
    pub targets: Vec<usize>,
}

impl Prepared {
    /// Resolves `mask` into the feature groups of every sample.
    pub(crate) fn groups(&self, mask: &FeatureMask) -> Result<Vec<FeatureGroups>> {
        mask.resolve(&self.x, self.n, &self.sample_shape)
    }

    /// [`run_perturbations`] over these inputs' per-sample shape and targets.
    pub(crate) fn run<S: PerturbationSource>(
        &self,
        model: &dyn Model,
        counts: &[usize],
        batch_size: BatchSize,
        src: &mut S,
    ) -> Result<()> {
        run_perturbations(
            model,
            &self.sample_shape,
            counts,
            &self.targets,
            batch_size,
            src,
        )
    }

    /// Wraps flat attributions `[n * features]` into an input-shaped batch.
    pub(crate) fn batch(&self, v: Vec<f32>) -> Result<salience_core::AttributionBatch> {
        to_batch(v, self.n, &self.sample_shape)
    }

    /// Writes each group's value `values[i][g]` to every element of group g
    /// of sample i and wraps the result into an input-shaped batch.
    pub(crate) fn spread(
        &self,
        groups: &[FeatureGroups],
        values: &[Vec<f64>],
    ) -> Result<salience_core::AttributionBatch> {
        let f = self.features;
        let mut out = vec![0f32; self.n * f];
        for (i, g) in groups.iter().enumerate() {
            g.spread(&values[i], &mut out[i * f..(i + 1) * f]);
        }
        self.batch(out)
    }

    /// Per-group Shapley values `phi[i]` spread over their groups, with the
    /// efficiency check of every sample: `delta[i] = Σ_g φ_g − (fx[i] −
    /// fb[i])` and `output_difference[i] = fx[i] − fb[i]`.
    pub(crate) fn with_delta(
        &self,
        groups: &[FeatureGroups],
        phi: &[Vec<f64>],
        fx: &[f64],
        fb: &[f64],
    ) -> Result<AttributionsWithDelta> {
        let mut delta = Vec::with_capacity(self.n);
        let mut output_difference = Vec::with_capacity(self.n);
        for i in 0..groups.len() {
            let diff = fx[i] - fb[i];
            delta.push((phi[i].iter().sum::<f64>() - diff) as f32);
            output_difference.push(diff as f32);
        }
        Ok(AttributionsWithDelta {
            attributions: self.spread(groups, phi)?,
            delta,
            output_difference,
        })
    }
}

/// The perturbation `k` of sample `i` of the one-feature-set-at-a-time
/// methods (Occlusion, Feature Ablation): `k = 0` is the sample itself
/// (its score is `f_t(x)`), `k > 0` the sample with the features that
/// `ablate(k - 1, baseline, out)` writes taken from its baseline.
pub(crate) fn fill_ablated(
    (x, base, f): (&[f32], &[f32], usize),
    (i, k): (usize, usize),
    out: &mut [f32],
    ablate: impl FnOnce(usize, &[f32], &mut [f32]),
) {
    let r = i * f..(i + 1) * f;
    out.copy_from_slice(&x[r.clone()]);
    if k > 0 {
        ablate(k - 1, &base[r], out);
    }
}

/// Checks an explainer's inputs and targets, as every explainer of this
/// crate and of `salience-explain` does before any work: inputs `[N, ...]`
/// of rank 2 to 4 (`[N, D]`, `[N, H, W]` or `[N, C, H, W]`), non-empty and
/// finite; one target per input, each below `num_classes`.
///
/// ```
/// use salience_perturb::check_explainer_inputs;
/// let x = ndarray::Array2::<f32>::zeros((2, 3)).into_dyn();
/// assert!(check_explainer_inputs(&x.view(), &[0, 1], 2).is_ok());
/// assert!(check_explainer_inputs(&x.view(), &[0, 2], 2).is_err()); // target 2 of 2 classes
/// assert!(check_explainer_inputs(&x.view(), &[0], 2).is_err()); // one target for two inputs
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn check_explainer_inputs(
    inputs: &ArrayViewD<'_, f32>,
    targets: &[usize],
    num_classes: usize,
) -> Result<()> {
    let shape = inputs.shape();
    if !(2..=4).contains(&shape.len()) {
        return Err(SalienceError::shape(
            "explainer inputs",
            "[N, D], [N, H, W] or [N, C, H, W]",
            shape,
        ));
    }
    check_nonempty_shape(shape, "explainer inputs")?;
    check_finite(inputs, "explainer inputs")?;
    check_targets(targets, shape[0], num_classes)
}

/// Checks inputs (rank 2–4, non-empty, finite), targets (against `model`'s
/// classes), seeds and the baseline, and materializes inputs and baselines
/// (sample i's baseline from `seeds.for_sample(i)`, as the gradient
/// explainers do).
pub(crate) fn prepare(
    inputs: &ArrayViewD<'_, f32>,
    targets: &[usize],
    model: &dyn Model,
    baseline: &Baseline,
    seeds: Seeds<'_>,
) -> Result<Prepared> {
    check_explainer_inputs(inputs, targets, model.num_classes())?;
    let shape = inputs.shape();
    let n = shape[0];
    seeds.check_len(n)?;
    let sample_shape = shape[1..].to_vec();
    baseline.check(n, &sample_shape)?;
    let features: usize = sample_shape.iter().product();
    let x: Vec<f32> = inputs.as_standard_layout().iter().copied().collect();
    let mut base = vec![0f32; x.len()];
    for i in 0..n {
        let r = i * features..(i + 1) * features;
        baseline.fill(
            &x[r.clone()],
            &sample_shape,
            i,
            seeds.for_sample(i),
            &mut base[r],
        )?;
    }
    check_finite(&ndarray::ArrayView1::from(&base[..]), "baseline")?;
    Ok(Prepared {
        n,
        sample_shape,
        features,
        x,
        base,
        targets: targets.to_vec(),
    })
}

/// Evaluates every perturbation of every sample (`counts[i]` for sample i)
/// in chunks of `batch_size` ([`BatchSize::Auto`]: the largest chunk within
/// the memory budget, at most the model's preferred size; see
/// [`salience_core::batch`]) and feeds the target scores to `src` in order.
/// The chunk is resolved, and checked against the budget, before any
/// buffer is allocated or the model called.
pub(crate) fn run_perturbations<S: PerturbationSource>(
    model: &dyn Model,
    sample_shape: &[usize],
    counts: &[usize],
    targets: &[usize],
    batch_size: BatchSize,
    src: &mut S,
) -> Result<()> {
    let features: usize = sample_shape.iter().product();
    let mut offsets = Vec::with_capacity(counts.len() + 1);
    offsets.push(0usize);
    for c in counts {
        let last = *offsets.last().unwrap_or(&0);
        offsets.push(last + c);
    }
    let total = *offsets.last().unwrap_or(&0);
    if total == 0 {
        return Err(SalienceError::Empty(
            "zero perturbations to evaluate".into(),
        ));
    }
    let bs = model_chunk(model, batch_size, sample_shape, total)?;
    // (sample, index within sample) of global perturbation p.
    let locate = |p: usize| -> (usize, usize) {
        let i = offsets.partition_point(|&o| o <= p) - 1;
        (i, p - offsets[i])
    };
    // Scores are consumed block by block so that only `block` rows of the
    // [perturbations, classes] output are alive at a time.
    let block = bs.saturating_mul(16).max(1);
    let mut start = 0usize;
    while start < total {
        let len = block.min(total - start);
        let scores = forward_generated(model, len, sample_shape, Some(bs), |off, mut buf| {
            let rows = buf.shape()[0];
            let flat = buf
                .as_slice_mut()
                .ok_or_else(|| SalienceError::backend_msg("chunk buffer not contiguous"))?;
            for (j, row) in flat.chunks_exact_mut(features).take(rows).enumerate() {
                let (i, k) = locate(start + off + j);
                src.fill(i, k, row)?;
            }
            Ok(())
        })?;
        for j in 0..len {
            let (i, k) = locate(start + j);
            let t = targets[i];
            src.consume(i, k, scores[[j, t]])?;
        }
        start += len;
    }
    Ok(())
}

/// Wraps flat attributions `[n * features]` into an input-shaped batch.
pub(crate) fn to_batch(
    v: Vec<f32>,
    n: usize,
    sample_shape: &[usize],
) -> Result<salience_core::AttributionBatch> {
    let mut shape = vec![n];
    shape.extend_from_slice(sample_shape);
    let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v)
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    salience_core::AttributionBatch::new(a)
}

/// Checks a count parameter is in `1..=MAX_COUNT`.
pub(crate) fn check_positive(name: &str, v: usize) -> Result<()> {
    salience_core::validate::check_count(name, v)
}

/// Largest design matrix (samples × interpretable features) LIME and
/// KernelSHAP build per input.
pub(crate) const MAX_DESIGN_CELLS: usize = 1 << 28;

/// Checks that `n_samples × m` stays below [`MAX_DESIGN_CELLS`].
pub(crate) fn check_design_size(n_samples: usize, m: usize) -> Result<()> {
    match n_samples.checked_mul(m) {
        Some(c) if c <= MAX_DESIGN_CELLS => Ok(()),
        _ => Err(SalienceError::invalid(
            "n_samples",
            n_samples,
            &format!("n_samples × {m} features exceeds {MAX_DESIGN_CELLS} design cells"),
        )),
    }
}
