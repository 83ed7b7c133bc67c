//! Gram matrices from a model and a panel of explainers: AGG_faith on a
//! linear model with an exact explainer, AGG_robust with a constant one,
//! held-out evaluation, determinism and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array, Array2, ArrayD, ArrayViewD, Axis, IxDyn};
use rand::RngExt;
use salience_core::seed::rng;
use salience_core::{
    AttributionBatch, BatchSize, Ensemble, Explainer, LinearModel, SalienceError, Seeds,
};
use salience_optimize::{
    aggregate, explain_panel, faith_gram, held_out, robust_gram, AggregateConfig, Baseline,
    ExplainerSeeds, FaithConfig, GaussianBlur, Gram, MapNormalization, MaskShape, PixelMasks,
    RobustConfig, SeedStream, Strategy,
};

const N: usize = 3;
const C: usize = 3;
const H: usize = 8;
const W: usize = 8;
const D: usize = C * H * W;
// σ = 1.5 with a 13-tap kernel (the former scipy truncate = 4 radius).
const BLUR: GaussianBlur = GaussianBlur {
    sigma: 1.5,
    kernel_size: 13,
};

fn model() -> LinearModel {
    let mut g = rng(11);
    let w = Array2::from_shape_fn((2, D), |_| g.random_range(-1.0f32..1.0));
    LinearModel::new(w, ndarray::Array1::zeros(2)).unwrap()
}

fn inputs() -> ArrayD<f32> {
    let mut g = rng(12);
    Array::from_shape_fn(IxDyn(&[N, C, H, W]), |_| g.random_range(0.0f32..1.0))
}

const TARGETS: [usize; N] = [0, 1, 0];

/// The attribution a_t ⊙ (x − x_b) (scaled per feature by `scale`), with
/// x_b the blurred input: exact for infidelity with a blur baseline.
struct Exact {
    a: Array2<f32>,
    scale: Vec<f32>,
    pixel_map: bool,
}

impl Exact {
    fn new(m: &LinearModel) -> Self {
        Exact {
            a: m.weights().to_owned(),
            scale: vec![1.0; D],
            pixel_map: false,
        }
    }
}

impl Explainer for Exact {
    fn name(&self) -> &str {
        "exact"
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        targets: &[usize],
        _: Seeds<'_>,
    ) -> salience_core::Result<AttributionBatch> {
        let b = BLUR.apply(x.view())?;
        let mut out = x.to_owned();
        for (i, mut s) in out.outer_iter_mut().enumerate() {
            let a = self.a.row(targets[i]);
            let bs = b.index_axis(Axis(0), i);
            for (t, ((v, bv), av)) in s.iter_mut().zip(bs.iter()).zip(a.iter()).enumerate() {
                *v = av * (*v - bv) * self.scale[t];
            }
        }
        if self.pixel_map {
            return AttributionBatch::new(out.sum_axis(Axis(1)));
        }
        AttributionBatch::new(out)
    }
}

/// Exact + per-sample noise drawn from the explainer's seeds.
struct Noisy(Exact, f32);

impl Explainer for Noisy {
    fn name(&self) -> &str {
        "noisy"
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> salience_core::Result<AttributionBatch> {
        let mut out = self.0.explain(x, targets, seeds)?.into_inner();
        for (i, mut s) in out.outer_iter_mut().enumerate() {
            let mut g = rng(seeds.for_sample(i));
            s.iter_mut()
                .for_each(|v| *v += self.1 * g.random_range(-1.0f32..1.0));
        }
        AttributionBatch::new(out)
    }
}

/// The same map everywhere: perfectly robust.
struct Constant(f32);

impl Explainer for Constant {
    fn name(&self) -> &str {
        "constant"
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        _: &[usize],
        _: Seeds<'_>,
    ) -> salience_core::Result<AttributionBatch> {
        AttributionBatch::new(x.mapv(|_| self.0))
    }
}

/// Gradient × input: changes with every perturbation.
struct GradInput(Array2<f32>);

impl Explainer for GradInput {
    fn name(&self) -> &str {
        "grad_x_input"
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        targets: &[usize],
        _: Seeds<'_>,
    ) -> salience_core::Result<AttributionBatch> {
        let mut out = x.to_owned();
        for (i, mut s) in out.outer_iter_mut().enumerate() {
            let a = self.0.row(targets[i]);
            s.iter_mut().zip(a.iter()).for_each(|(v, a)| *v *= a);
        }
        AttributionBatch::new(out)
    }
}

fn faith_cfg(masks: PixelMasks) -> AggregateConfig<'static> {
    AggregateConfig {
        strategy: Strategy::Faith,
        normalization: MapNormalization::none(),
        faith: FaithConfig {
            masks,
            baseline: Baseline::Blur(BLUR),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn bits(g: &Gram) -> Vec<u64> {
    g.matrix()
        .iter()
        .chain(g.cross().iter())
        .chain(std::iter::once(&g.target_sq()))
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn agg_faith_puts_all_weight_on_the_exact_attribution() {
    let m = model();
    let x = inputs();
    let panel: Vec<Box<dyn Explainer>> = vec![
        Box::new(Noisy(Exact::new(&m), 0.05)),
        Box::new(Exact::new(&m)),
        Box::new(Constant(0.01)),
    ];
    for masks in [
        PixelMasks::default(),
        PixelMasks {
            share: 0.2,
            shape: MaskShape::Squares { size: 3 },
        },
        PixelMasks {
            share: 0.25,
            shape: MaskShape::Grid { size: 2 },
        },
    ] {
        let out = aggregate(
            &m,
            &panel,
            x.view(),
            &TARGETS,
            &faith_cfg(masks),
            Seeds::base(1),
        )
        .unwrap();
        let faith = out.faith.as_ref().unwrap();
        for (i, w) in out.weights.iter().enumerate() {
            assert!(w.as_slice()[1] >= 0.99, "{masks:?} input {i}: {w:?}");
            let q = faith[i].q_methods();
            assert!(q[1] < 1e-8 * q[0].min(q[2]), "{q:?}");
        }
    }
}

#[test]
fn agg_faith_with_pixel_maps_of_an_image_input() {
    // [N, H, W] maps of a [N, C, H, W] input: the mask covers all channels
    // of a pixel, so the channel sum of the exact map stays exact.
    let m = model();
    let x = inputs();
    let mut exact = Exact::new(&m);
    exact.pixel_map = true;
    let mut noisy = Exact::new(&m);
    noisy.pixel_map = true;
    noisy.scale = (0..D).map(|t| if t % 2 == 0 { 1.5 } else { 0.5 }).collect();
    let panel: Vec<Box<dyn Explainer>> = vec![Box::new(noisy), Box::new(exact)];
    let out = aggregate(
        &m,
        &panel,
        x.view(),
        &TARGETS,
        &faith_cfg(PixelMasks::default()),
        Seeds::base(2),
    )
    .unwrap();
    assert_eq!(out.maps.shape(), &[N, H, W]);
    for w in &out.weights {
        assert!(w.as_slice()[1] >= 0.99, "{w:?}");
    }
}

#[test]
fn agg_robust_puts_most_weight_on_the_constant_explainer() {
    let m = model();
    let x = inputs();
    let panel: Vec<Box<dyn Explainer>> = vec![
        Box::new(GradInput(m.weights().to_owned())),
        Box::new(Constant(1.0)),
        Box::new(Noisy(Exact::new(&m), 0.2)),
    ];
    let mut cfg = AggregateConfig {
        strategy: Strategy::Robust,
        ..Default::default()
    };
    cfg.robust.samples = 20;
    cfg.robust.explainer_seeds = ExplainerSeeds::Fresh;
    let out = aggregate(&m, &panel, x.view(), &TARGETS, &cfg, Seeds::base(3)).unwrap();
    let rob = out.robust.as_ref().unwrap();
    for (i, w) in out.weights.iter().enumerate() {
        assert!(w.as_slice()[1] >= 0.9, "input {i}: {w:?}");
        assert_eq!(rob[i].q_methods()[1], 0.0);
        assert!(rob[i].q_methods()[0] > 0.0 && rob[i].q_methods()[2] > 0.0);
    }
    // Shared explainer seeds: the noisy explainer's noise is the same on x
    // and x + ε, so only its deterministic part moves.
    cfg.robust.explainer_seeds = ExplainerSeeds::Shared;
    let shared = aggregate(&m, &panel, x.view(), &TARGETS, &cfg, Seeds::base(3)).unwrap();
    let s = shared.robust.unwrap();
    assert!(s[0].q_methods()[2] < rob[0].q_methods()[2]);
}

#[test]
fn held_out_infidelity_of_the_optimized_aggregate_beats_every_method_and_the_mean() {
    let m = model();
    let x = inputs();
    // Two partial, mis-scaled maps that complement each other, and a noisy one.
    let mut even = Exact::new(&m);
    even.scale = (0..D).map(|t| if t % 2 == 0 { 2.0 } else { 0.0 }).collect();
    let mut odd = Exact::new(&m);
    odd.scale = (0..D).map(|t| if t % 2 == 1 { 1.0 } else { 0.0 }).collect();
    let panel: Vec<Box<dyn Explainer>> = vec![
        Box::new(even),
        Box::new(odd),
        Box::new(Noisy(Exact::new(&m), 0.3)),
    ];
    let cfg = faith_cfg(PixelMasks::default());
    let r = held_out(&m, &panel, x.view(), &TARGETS, &cfg, 200, Seeds::base(4)).unwrap();
    assert!(r.robust.is_none());
    let f = r.faith.unwrap();
    let best = f.q_methods.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(f.q_optimized <= best, "{f:?}");
    assert!(f.q_optimized <= f.q_mean, "{f:?}");
    assert_eq!(f.per_input.len(), N);
    // The fitting Grams (m_agg = 50) and the held-out ones differ.
    assert_eq!(r.fit.faith.as_ref().unwrap()[0].samples(), Some(50));
}

#[test]
fn held_out_opt_reports_both_metrics() {
    let m = model();
    let x = inputs();
    let panel: Vec<Box<dyn Explainer>> = vec![
        Box::new(GradInput(m.weights().to_owned())),
        Box::new(Exact::new(&m)),
        Box::new(Constant(1.0)),
    ];
    let mut cfg = AggregateConfig::default();
    cfg.robust.samples = 10;
    cfg.faith.samples = 20;
    cfg.faith.baseline = Baseline::Blur(BLUR);
    let r = held_out(&m, &panel, x.view(), &TARGETS, &cfg, 30, Seeds::base(5)).unwrap();
    let (rob, fai) = (r.robust.unwrap(), r.faith.unwrap());
    assert!(rob.q_optimized.is_finite() && fai.q_optimized.is_finite());
    assert_eq!(rob.q_methods[2], 0.0);
    for w in &r.fit.weights {
        assert!((w.as_slice().iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

fn robust_grams(chunk: Option<usize>, seed: u64, stream: SeedStream) -> Vec<Gram> {
    let m = model();
    let x = inputs();
    let panel: Vec<Box<dyn Explainer>> = vec![
        Box::new(GradInput(m.weights().to_owned())),
        Box::new(Noisy(Exact::new(&m), 0.1)),
    ];
    let cfg = RobustConfig {
        samples: 7,
        batch_size: BatchSize::from_option(chunk).unwrap(),
        explainer_seeds: ExplainerSeeds::Fresh,
        stream,
        ..Default::default()
    };
    let phi = explain_panel(
        &panel,
        x.view(),
        &TARGETS,
        &cfg.normalization,
        Seeds::base(seed),
    )
    .unwrap();
    robust_gram(&panel, &phi, x.view(), &TARGETS, &cfg, Seeds::base(seed)).unwrap()
}

fn faith_grams(chunk: Option<usize>, seed: u64) -> Vec<Gram> {
    let m = model();
    let x = inputs();
    let panel: Vec<Box<dyn Explainer>> = vec![
        Box::new(Exact::new(&m)),
        Box::new(Noisy(Exact::new(&m), 0.1)),
    ];
    let norm = MapNormalization::none();
    let phi = explain_panel(&panel, x.view(), &TARGETS, &norm, Seeds::base(seed)).unwrap();
    let cfg = FaithConfig {
        samples: 9,
        batch_size: BatchSize::from_option(chunk).unwrap(),
        baseline: Baseline::Blur(BLUR),
        masks: PixelMasks {
            share: 0.2,
            shape: MaskShape::Squares { size: 2 },
        },
        ..Default::default()
    };
    faith_gram(&m, &phi, x.view(), &TARGETS, &cfg, Seeds::base(seed)).unwrap()
}

#[test]
fn grams_are_bitwise_independent_of_chunk_size_and_threads() {
    let reference: Vec<Vec<u64>> = robust_grams(Some(1), 7, SeedStream::Fit)
        .iter()
        .map(bits)
        .collect();
    for chunk in [Some(2), Some(5), Some(1000), None] {
        let g: Vec<Vec<u64>> = robust_grams(chunk, 7, SeedStream::Fit)
            .iter()
            .map(bits)
            .collect();
        assert_eq!(g, reference, "robust, chunk {chunk:?}");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let single: Vec<Vec<u64>> = pool.install(|| {
        robust_grams(Some(3), 7, SeedStream::Fit)
            .iter()
            .map(bits)
            .collect()
    });
    assert_eq!(single, reference);
    let other: Vec<Vec<u64>> = robust_grams(Some(3), 8, SeedStream::Fit)
        .iter()
        .map(bits)
        .collect();
    assert_ne!(other, reference);
    let eval: Vec<Vec<u64>> = robust_grams(Some(3), 7, SeedStream::Eval)
        .iter()
        .map(bits)
        .collect();
    assert_ne!(eval, reference);

    let reference: Vec<Vec<u64>> = faith_grams(Some(1), 7).iter().map(bits).collect();
    for chunk in [Some(4), Some(1000), None] {
        let g: Vec<Vec<u64>> = faith_grams(chunk, 7).iter().map(bits).collect();
        assert_eq!(g, reference, "faith, chunk {chunk:?}");
    }
    let single: Vec<Vec<u64>> = pool.install(|| faith_grams(Some(5), 7).iter().map(bits).collect());
    assert_eq!(single, reference);
    let other: Vec<Vec<u64>> = faith_grams(Some(5), 9).iter().map(bits).collect();
    assert_ne!(other, reference);
}

#[test]
fn bad_input_gives_typed_errors() {
    let m = model();
    let x = inputs();
    let panel: Vec<Box<dyn Explainer>> = vec![Box::new(Exact::new(&m)), Box::new(Constant(1.0))];
    let norm = MapNormalization::none();
    let phi = explain_panel(&panel, x.view(), &TARGETS, &norm, Seeds::base(0)).unwrap();
    let s = Seeds::base(0);
    let fc = FaithConfig::default();
    let rc = RobustConfig {
        normalization: norm,
        ..Default::default()
    };

    // m = 0.
    let zero_f = FaithConfig {
        samples: 0,
        ..Default::default()
    };
    assert!(matches!(
        faith_gram(&m, &phi, x.view(), &TARGETS, &zero_f, s),
        Err(SalienceError::Empty(_))
    ));
    let zero_r = RobustConfig { samples: 0, ..rc };
    assert!(matches!(
        robust_gram(&panel, &phi, x.view(), &TARGETS, &zero_r, s),
        Err(SalienceError::Empty(_))
    ));
    let cfg = AggregateConfig::default();
    assert!(matches!(
        held_out(&m, &panel, x.view(), &TARGETS, &cfg, 0, s),
        Err(SalienceError::Empty(_))
    ));

    // Targets out of range / wrong count.
    assert!(matches!(
        faith_gram(&m, &phi, x.view(), &[0, 2, 0], &fc, s),
        Err(SalienceError::TargetOutOfRange {
            sample: 1,
            target: 2,
            num_classes: 2
        })
    ));
    assert!(matches!(
        robust_gram(&panel, &phi, x.view(), &[0, 1], &rc, s),
        Err(SalienceError::TargetCount { .. })
    ));
    assert!(matches!(
        aggregate(&m, &panel, x.view(), &[0, 5, 0], &cfg, s),
        Err(SalienceError::TargetOutOfRange { .. })
    ));

    // Mismatched shapes: ensemble of another N, a baseline of another shape,
    // a panel of another k, maps that are not image- or pixel-shaped.
    let phi2 = phi.samples(0, 2).unwrap();
    assert!(matches!(
        faith_gram(&m, &phi2, x.view(), &TARGETS, &fc, s),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        robust_gram(&panel, &phi2, x.view(), &TARGETS, &rc, s),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    let small = Array::<f32, _>::zeros(IxDyn(&[N, C, H, W - 1]));
    let given = FaithConfig {
        baseline: Baseline::Given(small.view()),
        ..Default::default()
    };
    assert!(matches!(
        faith_gram(&m, &phi, x.view(), &TARGETS, &given, s),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        robust_gram(&panel[..1], &phi, x.view(), &TARGETS, &rc, s),
        Err(SalienceError::InvalidParameter { .. })
    ));
    let flat = Ensemble::from_stacked(Array::<f32, _>::zeros(IxDyn(&[2, N, D / 2])), None).unwrap();
    assert!(matches!(
        faith_gram(&m, &flat, x.view(), &TARGETS, &fc, s),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    // An explainer whose maps on perturbed inputs do not match Φ(x).
    let pm = {
        let mut e = Exact::new(&m);
        e.pixel_map = true;
        e
    };
    let wrong: Vec<Box<dyn Explainer>> = vec![Box::new(pm), Box::new(Constant(1.0))];
    assert!(matches!(
        robust_gram(&wrong, &phi, x.view(), &TARGETS, &rc, s),
        Err(SalienceError::ShapeMismatch { .. })
    ));

    // NaN in the inputs or the baseline.
    let mut bad = x.clone();
    bad[[1, 0, 2, 2]] = f32::NAN;
    assert!(matches!(
        faith_gram(&m, &phi, bad.view(), &TARGETS, &fc, s),
        Err(SalienceError::NonFinite { .. })
    ));
    assert!(matches!(
        robust_gram(&panel, &phi, bad.view(), &TARGETS, &rc, s),
        Err(SalienceError::NonFinite { .. })
    ));
    let given = FaithConfig {
        baseline: Baseline::Given(bad.view()),
        ..Default::default()
    };
    assert!(matches!(
        faith_gram(&m, &phi, x.view(), &TARGETS, &given, s),
        Err(SalienceError::NonFinite { .. })
    ));

    // Invalid parameters.
    let share = FaithConfig {
        masks: PixelMasks {
            share: 1.5,
            shape: MaskShape::Pixels,
        },
        ..Default::default()
    };
    assert!(matches!(
        faith_gram(&m, &phi, x.view(), &TARGETS, &share, s),
        Err(SalienceError::InvalidParameter { .. })
    ));
    // A batch of 0 perturbed inputs per call is unrepresentable: the
    // BatchSize is refused when it is built.
    assert!(matches!(
        BatchSize::fixed(0),
        Err(SalienceError::InvalidParameter { .. })
    ));
    let radius = RobustConfig {
        noise: salience_optimize::UniformNoise { radius: f32::NAN },
        ..rc
    };
    assert!(matches!(
        robust_gram(&panel, &phi, x.view(), &TARGETS, &radius, s),
        Err(SalienceError::InvalidParameter { .. })
    ));
    let blur = FaithConfig {
        baseline: Baseline::Blur(GaussianBlur {
            sigma: 0.0,
            kernel_size: 9,
        }),
        ..Default::default()
    };
    assert!(matches!(
        faith_gram(&m, &phi, x.view(), &TARGETS, &blur, s),
        Err(SalienceError::InvalidParameter { .. })
    ));
    // All-zero maps under abs-max normalization: a typed degenerate error.
    assert!(matches!(
        explain_panel(
            &[Constant(0.0)],
            x.view(),
            &TARGETS,
            &MapNormalization::default(),
            s
        ),
        Err(SalienceError::DegenerateMap { .. })
    ));
}

#[test]
fn blur_matches_a_direct_reflect_convolution() {
    let mut g = rng(21);
    let x = Array::from_shape_fn(IxDyn(&[1, 1, 5, 7]), |_| g.random_range(-1.0f32..1.0));
    let blur = GaussianBlur {
        sigma: 2.0,
        kernel_size: 17,
    };
    let k = blur.kernel().unwrap();
    let r = (k.len() / 2) as i64;
    // torchvision's reflect (edge not repeated), continued periodically.
    let refl = |i: i64, n: i64| {
        let t = i.rem_euclid(2 * (n - 1));
        if t >= n {
            2 * (n - 1) - t
        } else {
            t
        }
    };
    let out = blur.apply(x.view()).unwrap();
    for y in 0..5i64 {
        for c in 0..7i64 {
            let mut s = 0.0f64;
            for (a, ka) in k.iter().enumerate() {
                for (b, kb) in k.iter().enumerate() {
                    let yy = refl(y + a as i64 - r, 5) as usize;
                    let cc = refl(c + b as i64 - r, 7) as usize;
                    s += ka * kb * f64::from(x[[0, 0, yy, cc]]);
                }
            }
            let got = f64::from(out[[0, 0, y as usize, c as usize]]);
            assert!((got - s).abs() < 1e-5, "({y}, {c}): {got} vs {s}");
        }
    }
}

#[test]
fn masks_cover_the_requested_share() {
    let p = PixelMasks::default();
    for seed in 0..20 {
        let m = p.sample(10, 10, seed).unwrap();
        assert_eq!(m.len(), 20);
        assert!(m.windows(2).all(|w| w[0] < w[1]) && m[m.len() - 1] < 100);
    }
    let sq = PixelMasks {
        share: 0.2,
        shape: MaskShape::Squares { size: 4 },
    };
    for seed in 0..20 {
        let m = sq.sample(20, 20, seed).unwrap();
        assert!(m.len() >= 80 && m.len() < 80 + 16, "{}", m.len());
    }
}
