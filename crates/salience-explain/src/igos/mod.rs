//! iGOS++ (Khorram, Lawson & Fuxin, ACM CHIL 2021): Integrated-Gradient
//! Optimized Saliency by bilateral perturbations, as the authors' code
//! (`khorrams/IGOS_pp`, function `iGOS_pp`) computes it.
//!
//! # The objective
//! Two low-resolution masks of side `s` ([`IGosConfig::mask_size`]), a
//! deletion mask `M_d` and an insertion mask `M_i`, both initialised to 1,
//! are upsampled bilinearly (`align_corners = true`, PyTorch's
//! `UpsamplingBilinear2d`) to the image size: `U = up(M)`. With the image
//! `x`, the baseline `x′`, the target score `f` (the softmax probability of
//! the target class, or the raw logit with `softmax = false`) and `n`
//! integration steps `a_k = k/n`, `k = 1 … n`:
//!
//! * deletion score `D(U) = (1/n) Σ_k f(x ⊙ a_k U + x′ ⊙ (1 − a_k U) + ε)`,
//! * insertion score `I(U) = (1/n) Σ_k f(x′ ⊙ a_k U + x ⊙ (1 − a_k U) + ε)`,
//!
//! with fresh Gaussian noise `ε ~ N(0, noise_std²)` on every model input
//! (0.2 in the reference). A mask value of 1 keeps the image (deletion) or
//! the baseline (insertion); both masks push the pixels that matter
//! towards 0. The loss of the masks is
//!
//! `L = D(U_d) − I(U_i) + D(U_d ⊙ U_i) − I(U_d ⊙ U_i) + R(M_d ⊙ M_i)`,
//!
//! `R(M) = λ₁ mean|1 − M| + λ₂ BTV(M)`, with the bilateral total variation
//! `BTV(M) = ½ (TV_v(M) + TV_h(M) + BTV_v(U) + BTV_h(U))`, `U = up(M)`:
//!
//! * `TV_v(M) = mean_{i,j} |M_{i,j} − M_{i+1,j}|^β` (and `TV_h` along
//!   rows), over the low-resolution mask;
//! * `BTV_v(U) = mean_{i,j} exp(−(mean_c (x_{c,i,j} − x_{c,i+1,j}))² / σ) ·
//!   |U_{i,j} − U_{i+1,j}|^β`;
//! * `BTV_h(U) = mean_{i,j} mean_c exp(−(x_{c,i,j} − x_{c,i,j+1})² / σ) ·
//!   |U_{i,j} − U_{i,j+1}|^β`.
//!
//! The two image-weight terms differ in where the channel mean is taken
//! (before squaring vertically, after the exponential horizontally)
//! exactly as in the reference code; for one-channel images they
//! coincide. β = 2 and σ = 0.01 in the reference.
//!
//! # The optimisation
//! Each of `iterations` steps computes the *integrated gradient* of the
//! four score terms, `g = ∇(D(U_d ⊙ U_i) − I(U_d ⊙ U_i) + D(U_d) − I(U_i)) / 2`
//! (gradients through the noisy path points, then through the bilinear
//! upsampling), adds `∇R`, and takes a backtracking (Armijo) line search
//! step per image: starting from `α = α_max`, accept the first
//! `α` with `L(clamp(M − α g)) ≤ L(M) − α · c · ‖g‖²` (c = [`IGosConfig::armijo`]),
//! else `α ← decay · α`, stopping once `α < α_min` (that last α is then
//! used). The masks are clamped to [0, 1] after the step. Every loss
//! evaluation draws new noise, as in the reference (the gradient is halved
//! for balance with the regulariser, the line-search loss is not —
//! also as in the reference).
//!
//! # Output and sign convention
//! The result is the combined mask `M = M_d ⊙ M_i` (product at low
//! resolution, as the reference returns it), upsampled to the image and
//! turned into an attribution `1 − up(M)`: **higher = more important**
//! (0 where the mask kept the pixel, up to 1 where both masks removed /
//! inserted it). The map is written to every channel.
//!
//! # Batching and seeds
//! The N images of a batch are optimised together. Every model evaluation
//! (the gradient pass, the line-search base loss and each line-search
//! trial) enumerates its (image, term, step) path points and runs them
//! through the classifier in chunks of `batch_size` — one forward (and
//! one backward) pass per chunk, never one per image or step. Image i's
//! noise comes from streams derived from `seeds.for_sample(i)` per
//! (iteration, evaluation, term, step), and its baseline (for
//! [`Baseline::RandomNormal`]) from `seeds.for_sample(i)` itself, so the
//! result does not depend on the chunk size or on the other images of the
//! batch.
//!
//! # Presets
//! `Default` is Mahlau & Nolde (2022)'s App. A setting (50 × 50 mask, λ₁ = 20,
//! λ₂ = 30, 20 iterations, 25 integration steps, α_max = 10,
//! α_min = 10⁻⁵, decay 0.2, Armijo constant 10⁻⁴, β = 2, σ = 0.01,
//! "Normal" baseline). App. A labels the Armijo constant "β = 2" and the
//! BTV exponent "β = 10⁻⁴"; the reference code has them the other way round
//! (`line_search(beta=0.0001)`, `bilateral_tv_norm(tv_beta=2)`), which is
//! what is used here. [`IGosConfig::reference`] is the authors' code as
//! its `main.py` runs it: 28 × 28 mask, λ₁ = 1, λ₂ = 20, α_max = 1000,
//! 20 iterations and 15 integration steps (`main.py` passes
//! `--ig_iter` as the iteration count and `--iterations` as the number of
//! integration steps), blurred baseline (Gaussian, σ = 50, 51 × 51 for
//! 224-pixel images). Both use the noise 0.2 and the softmax score.
//!
//! Notes on the reference:
//!
//! * it blurs the raw image with OpenCV (kernel 51, σ = 50 for 224-pixel
//!   inputs, 151 / 201 for larger ones) before normalising; here
//!   `Baseline::Blur` blurs the given (normalised) input with reflect-101
//!   borders, which is the same up to 8-bit rounding. A 51 × 51 kernel
//!   needs images larger than 25 pixels;
//! * the mask size must not exceed the image: App. A's 50 × 50 is for
//!   224-pixel images; use e.g. `mask_size = 7` or `14` on 28 × 28
//!   Fashion-MNIST;
//! * its initial-mask option for detectors (`init_posi`, `init_val`) is not
//!   ported: masks start at 1, the reference's value for classifiers.
//!
//! # Cost
//! Model evaluations per image: `iterations × 4n × (2 + line-search
//! trials)`, with between 1 and `⌈log(α_max/α_min) / log(1/decay)⌉ + 1`
//! trials (10 with App. A's values).
//!
//! # Tests
//! Two iterations on two 2×4×4 images through a 3-class linear softmax
//! model (noise off) match a float64 numpy transliteration of the authors'
//! `iGOS_pp`, whose gradients are central finite differences of the
//! transliterated loss (masks within 10⁻⁵, losses within 10⁻⁶, including a
//! line search that ends below α_min); on a linear model with the mask at
//! image resolution the initial loss is `2 f(x)/n` and the first step is
//! `clamp(1 − α (3/2)(n+1)/(2n) w ⊙ x)` for both masks, as computed by
//! hand; on an additive model reading a 4 × 4 region of a 12 × 12 image
//! the map ranks the region first (ranking AUC > 0.9, with noise); without
//! noise the loss never increases on a small CNN; the regulariser's value
//! by hand and its gradient against finite differences (β = 2 and 1.5, 1
//! and 3 channels); the upsampling against the crate's differentiable op
//! and its adjoint; seeds, chunk sizes and batch composition (bit for bit
//! on a batch-invariant model; docs/architecture.md § Determinism for
//! candle models); typed errors.

use crate::gradient::{contiguous, flat_slice, gradient_chunk, run_points, validate, PointSource};
use crate::model::classifier::Classifier;
use crate::ops::upsample::interpolation_matrix;
use candle_core::{Device, Tensor};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rand_distr::{Distribution, StandardNormal};
use salience_core::seed::{derive_seed, rng};
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, SalienceError, Seeds};
use salience_perturb::Baseline;

/// The stream (derived from a sample's seed) of iGOS++'s path noise.
const NOISE_STREAM: u64 = 0x1605_0000;

/// Configuration of [`IGosPlusPlus`]. `Default` = Mahlau & Nolde (2022)'s App. A
/// setting ([`IGosConfig::mahlau2022`]); [`IGosConfig::reference`] = the
/// authors' code. See the [module docs](self) for the formulas.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IGosConfig {
    /// Side s of the square low-resolution masks (2 ≤ s ≤ min(H, W)).
    /// Default 50 (App. A, for 224-pixel images): smaller images need a
    /// smaller mask (e.g. 7 or 14 for 28 × 28).
    pub mask_size: usize,
    /// Optimisation steps (≥ 1). Default 20.
    pub iterations: usize,
    /// Integration steps n along the path (≥ 1). Default 25.
    pub ig_steps: usize,
    /// λ₁, weight of the sparsity term `mean|1 − M|` (finite, ≥ 0). Default 20.
    pub l1: f32,
    /// λ₂, weight of the bilateral total variation (finite, ≥ 0). Default 30.
    pub l2: f32,
    /// α_max, the first step size tried by the line search (> 0). Default 10.
    pub alpha_max: f32,
    /// α_min: the line search stops once α falls below it (> 0, ≤ α_max). Default 10⁻⁵.
    pub alpha_min: f32,
    /// The Armijo constant c (≥ 0). Default 10⁻⁴.
    pub armijo: f32,
    /// The step-size decay of the line search (in (0, 1)). Default 0.2.
    pub decay: f32,
    /// The exponent β of the (bilateral) total variation (≥ 1). Default 2.
    pub tv_beta: f32,
    /// σ of the bilateral image weights `exp(−Δx²/σ)` (> 0). Default 0.01.
    pub tv_sigma: f32,
    /// Standard deviation of the Gaussian noise added to every path point
    /// (≥ 0; 0 disables it). Default 0.2.
    pub noise_std: f32,
    /// Score = softmax probability of the target (true, the reference's
    /// default) or its raw logit (false).
    pub softmax: bool,
    /// The baseline x′. Default [`Baseline::RandomNormal`] (App. A's
    /// "Normal"); the reference uses a blurred image.
    pub baseline: Baseline,
    /// Path points per forward/backward pass. Default [`BatchSize::Auto`]
    /// (see [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl Default for IGosConfig {
    fn default() -> Self {
        IGosConfig {
            mask_size: 50,
            iterations: 20,
            ig_steps: 25,
            l1: 20.0,
            l2: 30.0,
            alpha_max: 10.0,
            alpha_min: 1e-5,
            armijo: 1e-4,
            decay: 0.2,
            tv_beta: 2.0,
            tv_sigma: 0.01,
            noise_std: 0.2,
            softmax: true,
            baseline: Baseline::RandomNormal,
            batch_size: BatchSize::Auto,
        }
    }
}

impl IGosConfig {
    /// Mahlau & Nolde (2022)'s App. A setting (= `Default`).
    ///
    /// ```
    /// use salience_explain::IGosConfig;
    /// assert_eq!(IGosConfig::mahlau2022(), IGosConfig::default());
    /// assert_eq!((IGosConfig::mahlau2022().l1, IGosConfig::mahlau2022().l2), (20.0, 30.0));
    /// ```
    pub fn mahlau2022() -> Self {
        Self::default()
    }

    /// Khorram et al. (2021)'s code (the iGOS++ authors) as its `main.py` runs it on ImageNet classifiers:
    /// 28 × 28 mask, λ₁ = 1, λ₂ = 20, α_max = 1000, 20 iterations, 15
    /// integration steps, blurred baseline (σ = 50, 51 × 51).
    ///
    /// ```
    /// let c = salience_explain::IGosConfig::khorram2021();
    /// assert_eq!((c.mask_size, c.iterations, c.ig_steps), (28, 20, 15));
    /// assert_eq!(c.alpha_max, 1000.0);
    /// ```
    pub fn khorram2021() -> Self {
        IGosConfig {
            mask_size: 28,
            iterations: 20,
            ig_steps: 15,
            l1: 1.0,
            l2: 20.0,
            alpha_max: 1000.0,
            baseline: Baseline::Blur {
                sigma: 50.0,
                kernel_size: 51,
            },
            ..Self::default()
        }
    }

    /// The former name of [`IGosConfig::khorram2021`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `khorram2021`"
    )]
    pub fn reference() -> Self {
        Self::khorram2021()
    }

    /// Checks the parameters (not the inputs).
    ///
    /// ```
    /// use salience_explain::IGosConfig;
    /// assert!(IGosConfig::default().check().is_ok());
    /// assert!(IGosConfig { iterations: 0, ..IGosConfig::default() }.check().is_err());
    /// assert!(IGosConfig { l1: f32::NAN, ..IGosConfig::default() }.check().is_err());
    /// ```
    pub fn check(&self) -> Result<()> {
        let positive_int = [("iterations", self.iterations), ("ig_steps", self.ig_steps)];
        for (name, v) in positive_int {
            salience_core::validate::check_count(name, v)?;
        }
        if self.mask_size < 2 {
            return Err(SalienceError::invalid(
                "mask_size",
                self.mask_size,
                "must be at least 2 (the total variation needs neighbours)",
            ));
        }
        let nonneg = [
            ("l1", self.l1),
            ("l2", self.l2),
            ("armijo", self.armijo),
            ("noise_std", self.noise_std),
        ];
        for (name, v) in nonneg {
            if !(v.is_finite() && v >= 0.0) {
                return Err(SalienceError::invalid(name, v, "must be finite and ≥ 0"));
            }
        }
        let pos = [
            ("alpha_max", self.alpha_max),
            ("alpha_min", self.alpha_min),
            ("tv_sigma", self.tv_sigma),
        ];
        for (name, v) in pos {
            if !(v.is_finite() && v > 0.0) {
                return Err(SalienceError::invalid(name, v, "must be finite and > 0"));
            }
        }
        if self.alpha_min > self.alpha_max {
            return Err(SalienceError::invalid(
                "alpha_min",
                self.alpha_min,
                "must not exceed alpha_max",
            ));
        }
        if !(self.decay > 0.0 && self.decay < 1.0) {
            return Err(SalienceError::invalid(
                "decay",
                self.decay,
                "must lie in (0, 1)",
            ));
        }
        if !(self.tv_beta.is_finite() && self.tv_beta >= 1.0) {
            return Err(SalienceError::invalid(
                "tv_beta",
                self.tv_beta,
                "must be finite and ≥ 1",
            ));
        }
        Ok(())
    }
}

/// The result of [`IGosPlusPlus::explain_with_trace`].
#[derive(Debug, Clone, PartialEq)]
pub struct IGosOutput {
    /// `1 − up(M_d ⊙ M_i)`, shaped like the inputs (the same map in every
    /// channel).
    pub attributions: AttributionBatch,
    /// The deletion masks `M_d`, `[N, s, s]`, in [0, 1].
    pub deletion_masks: ArrayD<f32>,
    /// The insertion masks `M_i`, `[N, s, s]`, in [0, 1].
    pub insertion_masks: ArrayD<f32>,
    /// Per input, the loss `L` at the initial masks and after every
    /// iteration (`iterations + 1` values; each evaluated with its own
    /// noise draw, so it is monotone only with `noise_std = 0`, and only
    /// while the line search finds an Armijo step: when α falls below
    /// α_min the last, failing step is taken anyway, as in the reference,
    /// which can raise the loss slightly, e.g. at the kink of `|1 − M|` at
    /// the initial M = 1 when λ₁ is large).
    pub objective: Vec<Vec<f32>>,
    /// Model inputs evaluated in total (forward passes, with or without a
    /// backward pass).
    pub model_evaluations: usize,
    /// Of these, the inputs evaluated with a backward pass (the
    /// integrated-gradient passes); the rest are forward-only line-search
    /// evaluations.
    pub gradient_evaluations: usize,
}

/// The iGOS++ explainer over a differentiable [`Classifier`]. See the
/// [module docs](self) for the objective, the optimisation and the sign
/// convention. Needs image inputs `[N, C, H, W]` or `[N, H, W]`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{Baseline, IGosConfig, IGosPlusPlus, ModuleClassifier};
/// // Class 0's logit is the sum of the left half of a 1×4×4 image.
/// let w: Vec<f32> = (0..16).map(|p| if p % 4 < 2 { 0.5 } else { 0.0 }).collect();
/// let w = Tensor::from_vec(w, (1, 16), &Device::Cpu).unwrap();
/// let clf = ModuleClassifier::new(
///     move |x: &Tensor| {
///         let l = x.flatten_from(1)?.matmul(&w.t()?)?;
///         Tensor::cat(&[&l, &l.zeros_like()?], 1)
///     },
///     2,
/// );
/// let cfg = IGosConfig {
///     mask_size: 2, iterations: 2, ig_steps: 3, l1: 0.1, l2: 0.1,
///     baseline: Baseline::Zeros, ..IGosConfig::default()
/// };
/// let x = ndarray::Array::from_elem((1, 1, 4, 4), 1.0f32).into_dyn();
/// let a = IGosPlusPlus::with_config(clf, cfg).explain(x.view(), &[0], Seeds::base(0))?;
/// assert_eq!(a.view().shape(), &[1, 1, 4, 4]);
/// // The left half matters, the right half does not.
/// assert!(a.view()[[0, 0, 0, 0]] > a.view()[[0, 0, 0, 3]]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct IGosPlusPlus<C> {
    classifier: C,
    config: IGosConfig,
}

impl<C: Classifier> IGosPlusPlus<C> {
    /// iGOS++ with the default (App. A) configuration.
    ///
    /// ```
    /// use salience_explain::{IGosPlusPlus, ModuleClassifier};
    /// let e = IGosPlusPlus::new(ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2));
    /// assert_eq!(e.config().mask_size, 50);
    /// ```
    pub fn new(classifier: C) -> Self {
        Self::with_config(classifier, IGosConfig::default())
    }

    /// iGOS++ with `config` (checked when explaining).
    ///
    /// ```
    /// use salience_explain::{IGosConfig, IGosPlusPlus, ModuleClassifier};
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// let e = IGosPlusPlus::with_config(clf, IGosConfig::khorram2021());
    /// assert_eq!(e.config().l1, 1.0);
    /// ```
    pub fn with_config(classifier: C, config: IGosConfig) -> Self {
        IGosPlusPlus { classifier, config }
    }

    /// The configuration.
    ///
    /// ```
    /// use salience_explain::{IGosPlusPlus, ModuleClassifier};
    /// let e = IGosPlusPlus::new(ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2));
    /// assert_eq!(e.config().ig_steps, 25);
    /// ```
    pub fn config(&self) -> &IGosConfig {
        &self.config
    }

    /// The attributions together with the optimised masks, the loss trace
    /// and the number of model evaluations.
    ///
    /// ```
    /// use candle_core::Tensor;
    /// use salience_core::Seeds;
    /// use salience_explain::{Baseline, IGosConfig, IGosPlusPlus, ModuleClassifier};
    /// // Two classes: logits (Σx, 0).
    /// let clf = ModuleClassifier::new(
    ///     |x: &Tensor| {
    ///         let s = x.flatten_from(1)?.sum_keepdim(1)?;
    ///         Tensor::cat(&[&s, &s.zeros_like()?], 1)
    ///     },
    ///     2,
    /// );
    /// let cfg = IGosConfig {
    ///     mask_size: 2, iterations: 3, ig_steps: 2, noise_std: 0.0, l1: 0.1, l2: 0.1,
    ///     baseline: Baseline::Zeros, ..IGosConfig::default()
    /// };
    /// let x = ndarray::Array::from_elem((1, 1, 3, 3), 0.5f32).into_dyn();
    /// let out = IGosPlusPlus::with_config(clf, cfg).explain_with_trace(x.view(), &[0], Seeds::base(1))?;
    /// let l = &out.objective[0];
    /// assert_eq!(l.len(), 4);
    /// assert!(l.windows(2).all(|w| w[1] <= w[0] + 1e-6)); // accepted Armijo steps
    /// assert!(l[3] < l[0]);
    /// assert_eq!(out.deletion_masks.shape(), &[1, 2, 2]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn explain_with_trace(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<IGosOutput> {
        let shape = inputs.shape().to_vec();
        // The model only ever sees internal batches of path points and
        // masked copies: say which inputs of the user's they came from.
        let during = || {
            format!(
                "while optimising the iGOS++ masks of inputs {shape:?}: the model is run \
                 on batches of masked copies and path points of them"
            )
        };
        self.run(inputs, targets, seeds).map_err(|e| match e {
            SalienceError::Model(m) => SalienceError::Model(format!("{m} ({})", during())),
            SalienceError::Backend { context, source } => SalienceError::Backend {
                context: format!("{context} ({})", during()),
                source,
            },
            SalienceError::ShapeMismatch {
                context,
                expected,
                found,
            } => SalienceError::ShapeMismatch {
                context: format!("{context} (iGOS++ on inputs {shape:?})"),
                expected,
                found,
            },
            other => other,
        })
    }

    fn run(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<IGosOutput> {
        let cfg = &self.config;
        cfg.check()?;
        let info = validate(&inputs, targets, self.classifier.num_classes())?;
        let (c, h, w) = match *info.sample_shape.as_slice() {
            [c, h, w] => (c, h, w),
            [h, w] => (1, h, w),
            _ => {
                return Err(SalienceError::shape(
                    "iGOS++ inputs",
                    "[N, C, H, W] or [N, H, W]",
                    inputs.shape(),
                ))
            }
        };
        let s = cfg.mask_size;
        if s > h || s > w {
            return Err(SalienceError::invalid(
                "mask_size",
                s,
                &format!("must not exceed the image size {h} × {w}"),
            ));
        }
        seeds.check_len(info.n)?;
        cfg.baseline.check(info.n, &info.sample_shape)?;
        let points = info.n.saturating_mul(TERMS).saturating_mul(cfg.ig_steps);
        let chunk = gradient_chunk(&self.classifier, cfg.batch_size, &info, points)?;
        let n = info.n;
        let f = info.features;
        let xs = contiguous(&inputs);
        let x = flat_slice(&xs)?;
        let mut base = vec![0f32; x.len()];
        for i in 0..n {
            cfg.baseline.fill(
                &x[i * f..(i + 1) * f],
                &info.sample_shape,
                i,
                seeds.for_sample(i),
                &mut base[i * f..(i + 1) * f],
            )?;
        }
        let up = Upsampler::new(s, h, w)?;
        let weights: Vec<BtvWeights> = (0..n)
            .map(|i| BtvWeights::new(&x[i * f..(i + 1) * f], c, h, w, cfg.tv_sigma))
            .collect();
        let noise_seeds: Vec<u64> = (0..n)
            .map(|i| derive_seed(seeds.for_sample(i), NOISE_STREAM))
            .collect();
        let clf = ScoreOutput {
            inner: &self.classifier,
            softmax: cfg.softmax,
        };
        let mut opt = Optimiser {
            clf: &clf,
            cfg,
            chunk,
            sample_shape: &info.sample_shape,
            x,
            base: &base,
            targets,
            c,
            plane: h * w,
            up: &up,
            weights: &weights,
            noise_seeds: &noise_seeds,
            evaluations: 0,
            gradient_evaluations: 0,
        };
        let ss = s * s;
        let mut md = vec![vec![1f64; ss]; n];
        let mut mi = vec![vec![1f64; ss]; n];
        let mut objective = vec![Vec::with_capacity(cfg.iterations + 1); n];
        for it in 0..cfg.iterations {
            let stream = |phase: u64| derive_seed(it as u64, phase);
            let grads = opt.direction(&md, &mi, stream(0))?;
            let search = opt.line_search(&md, &mi, &grads, stream)?;
            if it == 0 {
                for (o, l) in objective.iter_mut().zip(&search.base_loss) {
                    o.push(*l as f32);
                }
            }
            for i in 0..n {
                let (gd, gi) = grads.get(i).ok_or_else(internal)?;
                md[i] = step(&md[i], gd, search.alpha[i]);
                mi[i] = step(&mi[i], gi, search.alpha[i]);
                objective[i].push(search.accepted[i] as f32);
            }
        }
        // Output: 1 − up(M_d ⊙ M_i), in every channel.
        let mut attr = vec![0f32; n * f];
        for i in 0..n {
            let m: Vec<f64> = md[i].iter().zip(&mi[i]).map(|(a, b)| a * b).collect();
            let u = up.forward(&m);
            for ch in 0..c {
                let o = &mut attr[i * f + ch * h * w..i * f + (ch + 1) * h * w];
                for (a, v) in o.iter_mut().zip(&u) {
                    // Clamped: the f32 interpolation weights may round past 1.
                    *a = (1.0 - v).clamp(0.0, 1.0) as f32;
                }
            }
        }
        let to_arr = |m: &[Vec<f64>]| {
            let flat: Vec<f32> = m.iter().flatten().map(|&v| v as f32).collect();
            ArrayD::from_shape_vec(IxDyn(&[n, s, s]), flat)
                .map_err(|e| SalienceError::backend("ndarray", e))
        };
        let attributions = AttributionBatch::new(
            ArrayD::from_shape_vec(IxDyn(inputs.shape()), attr)
                .map_err(|e| SalienceError::backend("ndarray", e))?,
        )?;
        Ok(IGosOutput {
            attributions,
            deletion_masks: to_arr(&md)?,
            insertion_masks: to_arr(&mi)?,
            objective,
            model_evaluations: opt.evaluations,
            gradient_evaluations: opt.gradient_evaluations,
        })
    }
}

impl<C: Classifier> Explainer for IGosPlusPlus<C> {
    salience_perturb::explainer_via_report!("igos_pp", explain_with_trace);
}

fn internal() -> SalienceError {
    SalienceError::backend_msg("iGOS++: internal indexing error")
}

/// `clamp(m − α g, 0, 1)`.
fn step(m: &[f64], g: &[f64], alpha: f64) -> Vec<f64> {
    m.iter()
        .zip(g)
        .map(|(m, g)| (m - alpha * g).clamp(0.0, 1.0))
        .collect()
}

/// The classifier with its output turned into the iGOS++ score: softmax
/// probabilities (or the logits unchanged).
struct ScoreOutput<'a, C> {
    inner: &'a C,
    softmax: bool,
}

impl<C: Classifier> Classifier for ScoreOutput<'_, C> {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let l = self.inner.logits(x)?;
        if self.softmax {
            candle_nn::ops::softmax(&l, 1)
        } else {
            Ok(l)
        }
    }
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
    fn preferred_batch_size(&self) -> usize {
        self.inner.preferred_batch_size()
    }
    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        self.inner.activation_bytes(sample_shape)
    }
}

/// Bilinear upsampling `s × s → H × W` (`align_corners = true`) and its
/// adjoint, as dense interpolation matrices.
struct Upsampler {
    s: usize,
    h: usize,
    w: usize,
    /// `[H, s]`, row-major.
    ah: Vec<f64>,
    /// `[W, s]`, row-major.
    aw: Vec<f64>,
}

impl Upsampler {
    fn new(s: usize, h: usize, w: usize) -> Result<Self> {
        let conv = |v: Vec<f32>| v.into_iter().map(f64::from).collect();
        Ok(Upsampler {
            s,
            h,
            w,
            ah: conv(interpolation_matrix(s, h, true)?),
            aw: conv(interpolation_matrix(s, w, true)?),
        })
    }

    /// `U = A_h M A_wᵀ`.
    fn forward(&self, m: &[f64]) -> Vec<f64> {
        let (s, h, w) = (self.s, self.h, self.w);
        // T = M A_wᵀ: [s, W].
        let mut t = vec![0f64; s * w];
        for r in 0..s {
            for col in 0..w {
                let a = &self.aw[col * s..(col + 1) * s];
                t[r * w + col] = m[r * s..(r + 1) * s]
                    .iter()
                    .zip(a)
                    .map(|(x, y)| x * y)
                    .sum();
            }
        }
        let mut u = vec![0f64; h * w];
        for row in 0..h {
            let a = &self.ah[row * s..(row + 1) * s];
            let out = &mut u[row * w..(row + 1) * w];
            for (r, &ar) in a.iter().enumerate() {
                if ar != 0.0 {
                    for (o, tv) in out.iter_mut().zip(&t[r * w..(r + 1) * w]) {
                        *o += ar * tv;
                    }
                }
            }
        }
        u
    }

    /// `G_M = A_hᵀ G_U A_w`.
    fn adjoint(&self, g: &[f64]) -> Vec<f64> {
        let (s, h, w) = (self.s, self.h, self.w);
        // T = A_hᵀ G: [s, W].
        let mut t = vec![0f64; s * w];
        for row in 0..h {
            let a = &self.ah[row * s..(row + 1) * s];
            let gr = &g[row * w..(row + 1) * w];
            for (r, &ar) in a.iter().enumerate() {
                if ar != 0.0 {
                    for (o, gv) in t[r * w..(r + 1) * w].iter_mut().zip(gr) {
                        *o += ar * gv;
                    }
                }
            }
        }
        let mut out = vec![0f64; s * s];
        for r in 0..s {
            let tr = &t[r * w..(r + 1) * w];
            for (col, tv) in tr.iter().enumerate() {
                let a = &self.aw[col * s..(col + 1) * s];
                for (o, av) in out[r * s..(r + 1) * s].iter_mut().zip(a) {
                    *o += tv * av;
                }
            }
        }
        out
    }
}

/// The bilateral image weights of one image: vertical `[H − 1, W]`
/// (`exp(−(mean_c Δx)²/σ)`) and horizontal `[H, W − 1]`
/// (`mean_c exp(−Δx²/σ)`), as the reference computes them.
struct BtvWeights {
    v: Vec<f64>,
    hz: Vec<f64>,
}

impl BtvWeights {
    fn new(x: &[f32], c: usize, h: usize, w: usize, sigma: f32) -> Self {
        let sigma = sigma as f64;
        let px = |ch: usize, i: usize, j: usize| x[ch * h * w + i * w + j] as f64;
        let mut v = Vec::with_capacity(h.saturating_sub(1) * w);
        for i in 0..h.saturating_sub(1) {
            for j in 0..w {
                let d = (0..c)
                    .map(|ch| px(ch, i, j) - px(ch, i + 1, j))
                    .sum::<f64>()
                    / c as f64;
                v.push((-d * d / sigma).exp());
            }
        }
        let mut hz = Vec::with_capacity(h * w.saturating_sub(1));
        for i in 0..h {
            for j in 0..w.saturating_sub(1) {
                let e = (0..c)
                    .map(|ch| {
                        let d = px(ch, i, j) - px(ch, i, j + 1);
                        (-d * d / sigma).exp()
                    })
                    .sum::<f64>()
                    / c as f64;
                hz.push(e);
            }
        }
        BtvWeights { v, hz }
    }
}

/// `|d|^β` and its derivative `β |d|^{β−1} sgn d` (0 at d = 0).
fn pow_abs(d: f64, beta: f64) -> (f64, f64) {
    let a = d.abs();
    if a == 0.0 {
        return (0.0, 0.0);
    }
    (a.powf(beta), beta * a.powf(beta - 1.0) * d.signum())
}

/// Adds `mean_{pairs} wt · |m[p] − m[q]|^β` (pairs (p, q) vertical or
/// horizontal neighbours on a `rows × cols` grid) times `scale` to the loss,
/// and its gradient to `grad`.
#[allow(clippy::too_many_arguments)]
fn tv_term(
    m: &[f64],
    rows: usize,
    cols: usize,
    vertical: bool,
    wt: Option<&[f64]>,
    beta: f64,
    scale: f64,
    grad: Option<&mut [f64]>,
) -> f64 {
    let (pr, pc) = if vertical {
        (rows - 1, cols)
    } else {
        (rows, cols - 1)
    };
    let count = (pr * pc) as f64;
    if count == 0.0 {
        return 0.0;
    }
    let mut loss = 0f64;
    let mut grad = grad;
    for i in 0..pr {
        for j in 0..pc {
            let p = i * cols + j;
            let q = if vertical { p + cols } else { p + 1 };
            let k = wt.map_or(1.0, |w| w[i * pc + j]);
            let (v, dv) = pow_abs(m[p] - m[q], beta);
            loss += k * v;
            if let Some(g) = grad.as_deref_mut() {
                let d = scale * k * dv / count;
                g[p] += d;
                g[q] -= d;
            }
        }
    }
    scale * loss / count
}

/// `Some(g)` unless `g` is empty (no gradient wanted).
fn maybe(g: &mut [f64]) -> Option<&mut [f64]> {
    if g.is_empty() {
        None
    } else {
        Some(g)
    }
}

/// `R(M) = λ₁ mean|1 − M| + λ₂ BTV(M)` of one image (bilateral weights
/// `wts`) and, with `grad`, its gradient with respect to the
/// low-resolution mask `m`.
fn regulariser(
    cfg: &IGosConfig,
    up: &Upsampler,
    wts: &BtvWeights,
    m: &[f64],
    grad: bool,
) -> (f64, Vec<f64>) {
    let (s, h, w) = (up.s, up.h, up.w);
    let ss = (s * s) as f64;
    let l1 = cfg.l1 as f64;
    let beta = cfg.tv_beta as f64;
    let half = 0.5 * cfg.l2 as f64;
    let mut gm = if grad { vec![0f64; s * s] } else { Vec::new() };
    let mut loss = l1 * m.iter().map(|v| (1.0 - v).abs()).sum::<f64>() / ss;
    if grad {
        for (g, v) in gm.iter_mut().zip(m) {
            let d = 1.0 - v;
            if d != 0.0 {
                *g -= l1 * d.signum() / ss;
            }
        }
    }
    loss += tv_term(m, s, s, true, None, beta, half, maybe(&mut gm));
    loss += tv_term(m, s, s, false, None, beta, half, maybe(&mut gm));
    let u = up.forward(m);
    let mut gu = if grad { vec![0f64; h * w] } else { Vec::new() };
    loss += tv_term(&u, h, w, true, Some(&wts.v), beta, half, maybe(&mut gu));
    loss += tv_term(&u, h, w, false, Some(&wts.hz), beta, half, maybe(&mut gu));
    if grad {
        for (g, v) in gm.iter_mut().zip(up.adjoint(&gu)) {
            *g += v;
        }
    }
    (loss, gm)
}

/// The outcome of one line search, per image.
struct LineSearch {
    /// The step size taken.
    alpha: Vec<f64>,
    /// The loss at the step taken.
    accepted: Vec<f64>,
    /// The loss at the current masks.
    base_loss: Vec<f64>,
}

/// The results of one evaluation pass.
struct Evaluation {
    /// Per listed image, the loss `L` (score terms + regulariser).
    loss: Vec<f64>,
    /// Per listed image, gradients of the score terms with respect to the
    /// upsampled masks `(U_d, U_i)` (empty without gradients).
    grads: Vec<(Vec<f64>, Vec<f64>)>,
}

struct Optimiser<'a, C> {
    clf: &'a ScoreOutput<'a, C>,
    cfg: &'a IGosConfig,
    /// The resolved chunk size of the path-point passes.
    chunk: usize,
    sample_shape: &'a [usize],
    x: &'a [f32],
    base: &'a [f32],
    targets: &'a [usize],
    c: usize,
    plane: usize,
    up: &'a Upsampler,
    weights: &'a [BtvWeights],
    noise_seeds: &'a [u64],
    evaluations: usize,
    gradient_evaluations: usize,
}

impl<C: Classifier> Optimiser<'_, C> {
    /// The descent direction of every image, `(g_d, g_i)` on the
    /// low-resolution masks: half the integrated gradient of the four score
    /// terms (one gradient pass over all path points) plus `∇R(M_d ⊙ M_i)`.
    fn direction(
        &mut self,
        md: &[Vec<f64>],
        mi: &[Vec<f64>],
        stream: u64,
    ) -> Result<Vec<(Vec<f64>, Vec<f64>)>> {
        let all: Vec<usize> = (0..md.len()).collect();
        let ev = self.evaluate(&all, md, mi, true, stream)?;
        let mut grads = Vec::with_capacity(md.len());
        for (i, ((gu_d, gu_i), (d, ins))) in ev.grads.iter().zip(md.iter().zip(mi)).enumerate() {
            let mut gd = self.up.adjoint(gu_d);
            let mut gi = self.up.adjoint(gu_i);
            for v in gd.iter_mut().chain(gi.iter_mut()) {
                *v *= 0.5;
            }
            let m: Vec<f64> = d.iter().zip(ins).map(|(a, b)| a * b).collect();
            let (_, gm) = self.regulariser(i, &m, true)?;
            for (q, g) in gm.iter().enumerate() {
                gd[q] += g * ins[q];
                gi[q] += g * d[q];
            }
            grads.push((gd, gi));
        }
        Ok(grads)
    }

    /// The backtracking (Armijo) line search of every image along
    /// `−grads`: from α_max down by `decay` until
    /// `L(clamp(M − α g)) ≤ L(M) − α c ‖g‖²` or α < α_min. Each round
    /// evaluates the images still searching together.
    fn line_search(
        &mut self,
        md: &[Vec<f64>],
        mi: &[Vec<f64>],
        grads: &[(Vec<f64>, Vec<f64>)],
        stream: impl Fn(u64) -> u64,
    ) -> Result<LineSearch> {
        let cfg = self.cfg;
        let n = md.len();
        let all: Vec<usize> = (0..n).collect();
        let base_loss = self.evaluate(&all, md, mi, false, stream(1))?.loss;
        let t: Vec<f64> = grads
            .iter()
            .map(|(gd, gi)| -(cfg.armijo as f64) * gd.iter().chain(gi).map(|v| v * v).sum::<f64>())
            .collect();
        let mut alpha = vec![cfg.alpha_max as f64; n];
        let mut accepted = vec![0f64; n];
        let mut active = all;
        let mut trial = 0u64;
        while !active.is_empty() {
            let mut td = Vec::with_capacity(active.len());
            let mut ti = Vec::with_capacity(active.len());
            for &i in &active {
                let (gd, gi) = grads.get(i).ok_or_else(internal)?;
                td.push(step(&md[i], gd, alpha[i]));
                ti.push(step(&mi[i], gi, alpha[i]));
            }
            let losses = self.run(&active, &td, &ti, false, stream(2 + trial))?.loss;
            let mut still = Vec::new();
            for (&i, &l) in active.iter().zip(&losses) {
                if l > base_loss[i] + alpha[i] * t[i] && alpha[i] >= cfg.alpha_min as f64 {
                    alpha[i] *= cfg.decay as f64;
                    still.push(i);
                } else {
                    accepted[i] = l;
                }
            }
            active = still;
            trial += 1;
        }
        Ok(LineSearch {
            alpha,
            accepted,
            base_loss,
        })
    }

    /// `R(M)` of image `i` and (with `grad`) its gradient with respect to
    /// the low-resolution mask.
    fn regulariser(&self, i: usize, m: &[f64], grad: bool) -> Result<(f64, Vec<f64>)> {
        let wts = self.weights.get(i).ok_or_else(internal)?;
        Ok(regulariser(self.cfg, self.up, wts, m, grad))
    }

    /// Loss (and score gradients) of the images `list` with low-resolution
    /// masks `md[i]`, `mi[i]` (indexed by image).
    fn evaluate(
        &mut self,
        list: &[usize],
        md: &[Vec<f64>],
        mi: &[Vec<f64>],
        with_grad: bool,
        stream: u64,
    ) -> Result<Evaluation> {
        let sel = |m: &[Vec<f64>]| -> Result<Vec<Vec<f64>>> {
            list.iter()
                .map(|&i| m.get(i).cloned().ok_or_else(internal))
                .collect()
        };
        self.run(list, &sel(md)?, &sel(mi)?, with_grad, stream)
    }

    fn run(
        &mut self,
        list: &[usize],
        md: &[Vec<f64>],
        mi: &[Vec<f64>],
        with_grad: bool,
        stream: u64,
    ) -> Result<Evaluation> {
        let ud: Vec<Vec<f64>> = md.iter().map(|m| self.up.forward(m)).collect();
        let ui: Vec<Vec<f64>> = mi.iter().map(|m| self.up.forward(m)).collect();
        let prod: Vec<Vec<f64>> = ud
            .iter()
            .zip(&ui)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).collect())
            .collect();
        let n_steps = self.cfg.ig_steps;
        let n_points = list.len() * TERMS * n_steps;
        let mut src = PathPoints {
            opt: &*self,
            list,
            ud: &ud,
            ui: &ui,
            prod: &prod,
            seeds: list
                .iter()
                .map(|&i| derive_seed(self.noise_seeds[i], stream))
                .collect(),
            score: vec![0f64; list.len()],
            grads: if with_grad {
                vec![(vec![0f64; self.plane], vec![0f64; self.plane]); list.len()]
            } else {
                Vec::new()
            },
            with_grad,
        };
        run_points(
            self.clf,
            self.sample_shape,
            n_points,
            self.chunk,
            with_grad,
            &mut src,
        )?;
        let PathPoints { score, grads, .. } = src;
        self.evaluations += n_points;
        if with_grad {
            self.gradient_evaluations += n_points;
        }
        let mut loss = score;
        for (j, &i) in list.iter().enumerate() {
            let m: Vec<f64> = md[j].iter().zip(&mi[j]).map(|(a, b)| a * b).collect();
            loss[j] += self.regulariser(i, &m, false)?.0;
        }
        Ok(Evaluation { loss, grads })
    }
}

/// The four score terms: (deletion?, mask, sign).
const TERMS: usize = 4;

/// Path points of the images of one pass, point `p = (j·4 + term)·n + k`
/// for listed image j: term 0 deletes with `U_d ⊙ U_i` (+), 1 inserts with
/// it (−), 2 deletes with `U_d` (+), 3 inserts with `U_i` (−).
struct PathPoints<'a, 'b, C> {
    opt: &'b Optimiser<'a, C>,
    list: &'b [usize],
    ud: &'b [Vec<f64>],
    ui: &'b [Vec<f64>],
    prod: &'b [Vec<f64>],
    seeds: Vec<u64>,
    score: Vec<f64>,
    grads: Vec<(Vec<f64>, Vec<f64>)>,
    with_grad: bool,
}

impl<C> PathPoints<'_, '_, C> {
    /// (listed image, term, step) of point p.
    fn split(&self, p: usize) -> (usize, usize, usize) {
        let n = self.opt.cfg.ig_steps;
        (p / (TERMS * n), (p / n) % TERMS, p % n)
    }

    fn mask(&self, j: usize, term: usize) -> &[f64] {
        match term {
            0 | 1 => &self.prod[j],
            2 => &self.ud[j],
            _ => &self.ui[j],
        }
    }
}

impl<C: Classifier> PointSource for PathPoints<'_, '_, C> {
    fn fill(&mut self, p: usize, out: &mut [f32]) -> Result<()> {
        let (j, term, k) = self.split(p);
        let opt = self.opt;
        let f = out.len();
        let i = *self.list.get(j).ok_or_else(internal)?;
        let x = &opt.x[i * f..(i + 1) * f];
        let b = &opt.base[i * f..(i + 1) * f];
        let a = (k + 1) as f64 / opt.cfg.ig_steps as f64;
        let u = self.mask(j, term);
        let deletion = term % 2 == 0;
        let plane = opt.plane;
        for ch in 0..opt.c {
            let r = ch * plane..(ch + 1) * plane;
            for (((o, &xv), &bv), &uv) in out[r.clone()]
                .iter_mut()
                .zip(&x[r.clone()])
                .zip(&b[r])
                .zip(u)
            {
                let t = a * uv;
                let (keep, other) = if deletion { (xv, bv) } else { (bv, xv) };
                *o = (keep as f64 * t + other as f64 * (1.0 - t)) as f32;
            }
        }
        let std = opt.cfg.noise_std;
        if std > 0.0 {
            let mut g = rng(derive_seed(
                self.seeds[j],
                (term * opt.cfg.ig_steps + k) as u64,
            ));
            for o in out.iter_mut() {
                let z: f32 = StandardNormal.sample(&mut g);
                *o += std * z;
            }
        }
        Ok(())
    }

    fn target(&self, p: usize) -> usize {
        let (j, _, _) = self.split(p);
        self.list.get(j).map_or(0, |&i| self.opt.targets[i])
    }

    fn consume(&mut self, p: usize, grad: &[f32], score: f32) -> Result<()> {
        let (j, term, k) = self.split(p);
        let opt = self.opt;
        let n = opt.cfg.ig_steps as f64;
        let deletion = term % 2 == 0;
        let sign = if deletion { 1.0 } else { -1.0 };
        *self.score.get_mut(j).ok_or_else(internal)? += sign * score as f64 / n;
        if !self.with_grad {
            return Ok(());
        }
        let i = *self.list.get(j).ok_or_else(internal)?;
        let f = grad.len();
        let x = &opt.x[i * f..(i + 1) * f];
        let b = &opt.base[i * f..(i + 1) * f];
        let plane = opt.plane;
        // dz/dU = a (x − x′) for deletion, a (x′ − x) for insertion.
        let a = (k + 1) as f64 / n;
        let mut gu = vec![0f64; plane];
        for ch in 0..opt.c {
            let r = ch * plane..(ch + 1) * plane;
            for (((g, &gz), &xv), &bv) in gu
                .iter_mut()
                .zip(&grad[r.clone()])
                .zip(&x[r.clone()])
                .zip(&b[r])
            {
                *g += gz as f64 * (xv as f64 - bv as f64);
            }
        }
        // Both kinds give (a/n) Σ_c ∂f/∂z_c (x_c − x′_c): the insertion
        // term's sign −1 cancels its path direction (x′ − x).
        let scale = a / n;
        let (ud, ui) = (&self.ud[j], &self.ui[j]);
        let (g1, g2) = self.grads.get_mut(j).ok_or_else(internal)?;
        match term {
            0 | 1 => {
                for q in 0..plane {
                    let v = scale * gu[q];
                    g1[q] += v * ui[q];
                    g2[q] += v * ud[q];
                }
            }
            2 => {
                for q in 0..plane {
                    g1[q] += scale * gu[q];
                }
            }
            _ => {
                for q in 0..plane {
                    g2[q] += scale * gu[q];
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(n: usize, seed: u64) -> Vec<f64> {
        let mut g = rng(seed);
        (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut g);
                z
            })
            .collect()
    }

    #[test]
    fn upsampler_is_the_crate_op_and_adjoint_is_its_transpose() {
        let up = Upsampler::new(3, 7, 5).unwrap();
        let m = pseudo(9, 1);
        let g = pseudo(35, 2);
        let u = up.forward(&m);
        // Same values as the differentiable op with align_corners = true.
        let t = Tensor::from_vec(m.clone(), (1, 1, 3, 3), &Device::Cpu).unwrap();
        let want = crate::ops::upsample_bilinear2d(&t, 7, 5, true)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for (a, b) in u.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6);
        }
        let lhs: f64 = u.iter().zip(&g).map(|(a, b)| a * b).sum();
        let rhs: f64 = m.iter().zip(up.adjoint(&g)).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0));
    }

    #[test]
    fn regulariser_value_by_hand() {
        // s = 2 on a 2 × 2 image (identity upsampling), one channel with
        // x = [[0, 0], [0.1, 0]], β = 2, σ = 0.01, λ₁ = 1, λ₂ = 2.
        let cfg = IGosConfig {
            l1: 1.0,
            l2: 2.0,
            ..IGosConfig::default()
        };
        let up = Upsampler::new(2, 2, 2).unwrap();
        let wts = BtvWeights::new(&[0.0, 0.0, 0.1, 0.0], 1, 2, 2, 0.01);
        let m = [1.0, 0.5, 0.0, 1.0];
        let (r, _) = regulariser(&cfg, &up, &wts, &m, false);
        // mean|1 − M| = 1.5 / 4.
        // TV_v = (1 + 0.25) / 2, TV_h = (0.25 + 1) / 2.
        // BTV_v: weights (e^{−1}, 1): (e^{−1}·1 + 0.25) / 2; BTV_h: (1·0.25 + e^{−1}·1) / 2.
        let e = (-1f64).exp();
        let want = 1.5 / 4.0 + 0.5 * 2.0 * (0.625 + 0.625 + (e + 0.25) / 2.0 + (0.25 + e) / 2.0);
        assert!((r - want).abs() < 1e-6, "{r} vs {want}"); // 0.1 is an f32
    }

    #[test]
    fn regulariser_gradient_matches_finite_differences() {
        for (beta, channels) in [(2.0f32, 1usize), (1.5, 3)] {
            let cfg = IGosConfig {
                l1: 0.7,
                l2: 1.3,
                tv_beta: beta,
                tv_sigma: 0.5,
                ..IGosConfig::default()
            };
            let (s, h, w) = (3, 6, 5);
            let up = Upsampler::new(s, h, w).unwrap();
            let x: Vec<f32> = pseudo(channels * h * w, 3)
                .iter()
                .map(|v| *v as f32 * 0.3)
                .collect();
            let wts = BtvWeights::new(&x, channels, h, w, cfg.tv_sigma);
            let m: Vec<f64> = pseudo(s * s, 4)
                .iter()
                .map(|v| 0.5 + 0.2 * v.tanh())
                .collect();
            let (_, g) = regulariser(&cfg, &up, &wts, &m, true);
            let eps = 1e-6;
            for q in 0..s * s {
                let mut p = m.clone();
                p[q] += eps;
                let mut n = m.clone();
                n[q] -= eps;
                let fd = (regulariser(&cfg, &up, &wts, &p, false).0
                    - regulariser(&cfg, &up, &wts, &n, false).0)
                    / (2.0 * eps);
                assert!(
                    (fd - g[q]).abs() < 1e-6 * fd.abs().max(1.0),
                    "β {beta}, q {q}: {fd} vs {}",
                    g[q]
                );
            }
        }
    }
}
