//! Property tests: random shapes and values thrown at every public metric
//! must give `Err` or finite scores — never a panic, never NaN.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array2, Array3, Array4, ArrayD, IxDyn};
use proptest::prelude::*;
use salience_core::{AttributionBatch, BatchSize, ChannelReduction, LinearModel, Seeds};
use salience_metrics::*;

fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -10.0f32..10.0,
        3 => Just(0.0f32),
        1 => Just(1.0f32),
        1 => Just(f32::MAX),
        1 => Just(-f32::MAX),
        1 => Just(f32::MIN_POSITIVE),
        1 => Just(1e30f32),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    vals: Vec<f32>,
    mask: Vec<bool>,
    mask_h: usize,
    nan_at: Option<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..4,
        1usize..4,
        1usize..6,
        1usize..6,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(n, c, h, w, wrong_mask, nan)| {
            let len = n * c * h * w;
            let mask_h = if wrong_mask { h + 1 } else { h };
            (
                Just((n, c, h, w, mask_h)),
                prop::collection::vec(value(), len),
                prop::collection::vec(prop::bool::weighted(0.3), n * mask_h * w),
                if nan {
                    (0..len).prop_map(Some).boxed()
                } else {
                    Just(None).boxed()
                },
            )
        })
        .prop_map(|((n, c, h, w, mask_h), vals, mask, nan_at)| Case {
            n,
            c,
            h,
            w,
            vals,
            mask,
            mask_h,
            nan_at,
        })
}

fn finite_scores(r: salience_core::Result<Scores>) {
    if let Ok(s) = r {
        assert!(s.values().iter().all(|v| v.is_finite()));
        let m = s.summary();
        assert!(m.mean.is_finite() && m.std.is_finite() && m.sem.is_finite());
    }
}

fn finite_outcomes(r: salience_core::Result<Outcomes>, n: usize, lo: f64, hi: f64) {
    if let Ok(o) = r {
        assert_eq!(o.len(), n);
        assert!(
            o.defined_values()
                .iter()
                .all(|v| v.is_finite() && (lo..=hi).contains(v)),
            "{o:?}"
        );
        let m = o.summary();
        assert_eq!(m.n, o.n_defined());
        assert!(m.mean.is_finite() && m.std.is_finite() && m.sem.is_finite());
        if o.n_undefined() == 0 {
            assert!(o.strict().is_ok());
        } else {
            assert!(o.strict().is_err());
        }
    }
}

/// A two-class linear model over the case's features, and the case's values
/// (clamped to ±1e3) as `[N, C, H, W]` inputs.
fn model_and_inputs(case: &Case) -> (LinearModel, ArrayD<f32>) {
    let features = case.c * case.h * case.w;
    let w = Array2::from_shape_fn((2, features), |(k, j)| ((k * 5 + j * 3) % 7) as f32 - 3.0);
    let model = LinearModel::new(w, ndarray::array![0.0f32, 1.0]).unwrap();
    let x = ArrayD::from_shape_vec(
        IxDyn(&[case.n, case.c, case.h, case.w]),
        case.vals.iter().map(|v| v.clamp(-1e3, 1e3)).collect(),
    )
    .unwrap();
    (model, x)
}

fn batches(case: &Case) -> (AttributionBatch, AttributionBatch) {
    let img = Array4::from_shape_vec((case.n, case.c, case.h, case.w), case.vals.clone()).unwrap();
    let mut images = AttributionBatch::from_images(img).unwrap();
    let mut pixels = AttributionBatch::from_pixel_maps(
        Array3::from_shape_vec(
            (case.n, case.h, case.w),
            case.vals[..case.n * case.h * case.w].to_vec(),
        )
        .unwrap(),
    )
    .unwrap();
    if let Some(i) = case.nan_at {
        // Break the finiteness invariant through the mutable view: the
        // metrics must re-check.
        if let Some(v) = images.view_mut().iter_mut().nth(i) {
            *v = f32::NAN;
        }
        if let Some(v) = pixels
            .view_mut()
            .iter_mut()
            .nth(i % (case.n * case.h * case.w))
        {
            *v = f32::NAN;
        }
    }
    (images, pixels)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(200)))]

    #[test]
    fn complexity_and_localization_never_panic(case in case(), tol in 0.0f64..3.0, thr in 0.05f64..1.0) {
        let (images, pixels) = batches(&case);
        let masks = MaskBatch::from_bool(
            Array3::from_shape_vec((case.n, case.mask_h, case.w), case.mask.clone()).unwrap(),
        ).unwrap();
        for a in [&images, &pixels] {
            finite_outcomes(gini_sparseness(a, &SparsenessConfig::default()), case.n, 0.0, 1.0);
            finite_outcomes(gini_sparseness(a, &SparsenessConfig::quantus()), case.n, 0.0, 1.0);
            finite_outcomes(gini_sparseness(a, &SparsenessConfig { reduction: Some(ChannelReduction::L2), epsilon: 0.0 }), case.n, 0.0, 1.0);
            finite_outcomes(entropy_complexity(a, &ComplexityConfig::default()), case.n, 0.0, f64::MAX);
            finite_outcomes(entropy_complexity(a, &ComplexityConfig { reduction: Some(ChannelReduction::Sum), normalized: true }), case.n, 0.0, 1.0);
            for map in [PixelMapConfig::default(), PixelMapConfig::signed(), PixelMapConfig { reduction: ChannelReduction::MaxAbs, sign: MapSign::Positive }] {
                finite_outcomes(pointing_game(a, &masks, &PointingGameConfig { map, tolerance: tol }), case.n, 0.0, 1.0);
                finite_outcomes(relevance_rank_accuracy(a, &masks, &map), case.n, 0.0, 1.0);
                finite_outcomes(relevance_mass_accuracy(a, &masks, &map), case.n, f64::MIN, f64::MAX);
                finite_outcomes(ranking_auc(a, &masks, &map), case.n, 0.0, 1.0);
                for k in [1, 3, 1000] {
                    for concept_influence in [false, true] {
                        let c = TopKConfig { map, k, concept_influence };
                        finite_outcomes(top_k_intersection(a, &masks, &c), case.n, 0.0, f64::MAX);
                    }
                }
                let boxes: Vec<BoundingBox> = (0..case.n)
                    .map(|i| BoundingBox { top: i % case.h, left: 0, bottom: case.h, right: case.w.max(1) })
                    .collect();
                let cfg = BoxLocalizationConfig { map, threshold: thr, ..Default::default() };
                if let Ok(r) = box_localization(a, &boxes, &cfg) {
                    prop_assert!(r.iou.defined_values().iter().all(|v| (0.0..=1.0).contains(v)));
                    prop_assert_eq!(r.localized.iter().flatten().count(), r.iou.n_defined());
                    prop_assert!(r.accuracy.is_finite());
                }
            }
        }
        // Float masks with arbitrary values.
        let fm = Array3::from_shape_vec((case.n, case.h, case.w), case.vals[..case.n * case.h * case.w].to_vec()).unwrap();
        let _ = MaskBatch::from_f32(fm.view());
    }

    #[test]
    fn insertion_deletion_never_panic(
        case in case(),
        n_steps in 0usize..12,
        baseline_kind in 0usize..5,
        bs in 1usize..9,
        softmax in any::<bool>(),
        seed in any::<u64>(),
        target in 0usize..3,
    ) {
        let (images, pixels) = batches(&case);
        let (model, x) = model_and_inputs(&case);
        let baseline = match baseline_kind {
            0 => Baseline::RandomNormal,
            1 => Baseline::Constant(0.0),
            2 => Baseline::ChannelMean,
            3 => Baseline::Blur { sigma: 1.0, kernel_size: 3 },
            _ => Baseline::Blur { sigma: 0.0, kernel_size: 2 },
        };
        let cfg = CurveConfig {
            n_steps,
            baseline,
            score: if softmax { ScoreKind::Softmax } else { ScoreKind::Raw },
            batch_size: BatchSize::fixed(bs).unwrap(),
            ..Default::default()
        };
        let targets = vec![target; case.n];
        for a in [&images, &pixels] {
            for r in [
                insertion(&model, x.view(), a, &targets, &cfg, Seeds::base(seed)),
                deletion(&model, x.view(), a, &targets, &cfg, Seeds::base(seed)),
            ]
            .into_iter()
            .flatten()
            {
                prop_assert!(r.curves.iter().all(|v| v.is_finite()));
                prop_assert!(r.fractions.iter().all(|v| (0.0..=1.0).contains(v)));
                prop_assert_eq!(r.curves.ncols(), r.fractions.len());
                finite_scores(Ok(r.auc));
            }
        }
    }

    #[test]
    fn model_metrics_never_panic(
        case in case(),
        kind in 0usize..5,
        m in 0usize..6,
        bs in 1usize..9,
        normalize in any::<bool>(),
        pct in -10.0f64..110.0,
        seed in any::<u64>(),
        target in 0usize..3,
    ) {
        let (images, pixels) = batches(&case);
        let (model, x) = model_and_inputs(&case);
        let perturbation = match kind {
            0 => Perturbation::GaussianNoise { std: 0.1 },
            1 => Perturbation::SquarePatch { size: 2, baseline: Baseline::Constant(0.0) },
            2 => Perturbation::RandomPixels { share: 0.3, baseline: Baseline::Blur { sigma: 1.0, kernel_size: 3 } },
            3 => Perturbation::RandomPixelCount { count: 3, baseline: Baseline::RandomNormal },
            _ => Perturbation::RandomSegments { share: 0.5, baseline: Baseline::ChannelMean },
        };
        let segments = Array3::from_shape_fn((case.n, case.h, case.w), |(_, y, xx)| ((y + xx) % 3) as u32);
        let targets = vec![target; case.n];
        for a in [&images, &pixels] {
            let infd = InfidelityConfig { perturbation, n_perturbations: m, normalize, batch_size: BatchSize::fixed(bs).unwrap(), ..Default::default() };
            finite_outcomes(infidelity(&model, x.view(), a, &targets, &infd, Seeds::base(seed)), case.n, 0.0, f64::MAX);
            let with_segments = EvalBatch::new(&model, x.view(), &targets, a).and_then(|b| b.with_segments(segments.view()));
            finite_outcomes(with_segments.and_then(|b| infd.score(&b, Seeds::base(seed))), case.n, 0.0, f64::MAX);
            let fc = FaithfulnessCorrelationConfig { perturbation, n_runs: m, batch_size: BatchSize::fixed(bs).unwrap(), ..Default::default() };
            if let Ok(s) = faithfulness_correlation(&model, x.view(), a, &targets, &fc, Seeds::base(seed)) {
                prop_assert!(s.defined_values().iter().all(|v| (-1.0..=1.0).contains(v)));
            }
            let rc = RoadConfig { percentages: vec![pct, 50.0], batch_size: BatchSize::fixed(bs).unwrap(), ..Default::default() };
            if let Ok(r) = road(&model, x.view(), a, &targets, &rc, Seeds::base(seed)) {
                prop_assert!(r.curves.iter().all(|v| v.is_finite()));
                finite_scores(Ok(r.mean));
            }
            if let Ok(d) = infidelity(&model, x.view(), a, &targets, &infd, Seeds::base(seed)) {
                prop_assert!(d.sem().unwrap().iter().all(|v| v.is_finite() && *v >= 0.0));
                finite_outcomes(Ok(d), case.n, 0.0, f64::MAX);
            }
            if let Ok(d) = faithfulness_correlation(&model, x.view(), a, &targets, &fc, Seeds::base(seed)) {
                prop_assert!(d.sem().unwrap().iter().all(|v| v.is_finite() && *v >= 0.0));
            }
            let cum = CumulativeInfidelityConfig { patch_size: 1 + m % 3, batch_size: BatchSize::fixed(bs).unwrap(), ..Default::default() };
            finite_outcomes(infidelity_cumulative(&model, x.view(), a, &targets, &cum), case.n, 0.0, f64::MAX);
        }
        // [N, 1, H, W] maps of multi-channel inputs are accepted as pixel maps.
        let one = pixels.view().to_owned().into_shape_with_order((case.n, 1, case.h, case.w)).unwrap();
        if let Ok(one) = AttributionBatch::from_images(one) {
            let rc = RoadConfig { percentages: vec![pct, 50.0], batch_size: BatchSize::fixed(bs).unwrap(), ..Default::default() };
            let r_one = road(&model, x.view(), &one, &targets, &rc, Seeds::base(seed));
            let r_px = road(&model, x.view(), &pixels, &targets, &rc, Seeds::base(seed));
            prop_assert_eq!(r_one.is_ok(), r_px.is_ok());
            if let (Ok(a), Ok(b)) = (r_one, r_px) {
                prop_assert_eq!(a, b);
            }
        }
        // Similarities of arbitrary maps.
        let pm = pixels.view().into_dimensionality::<ndarray::Ix3>().unwrap();
        let a0 = pm.index_axis(ndarray::Axis(0), 0);
        let b0 = pm.index_axis(ndarray::Axis(0), case.n - 1);
        let win = SsimConfig { window: SsimWindow::Uniform { size: 3 }, ..Default::default() };
        if let Ok(v) = ssim(a0, b0, &win) {
            prop_assert!(v.is_finite());
        }
        let av: Vec<f64> = a0.iter().map(|&v| v as f64).collect();
        let bv: Vec<f64> = b0.iter().map(|&v| v as f64).collect();
        if let Some(r) = spearman(&av, &bv) {
            prop_assert!((-1.0..=1.0).contains(&r));
        }
    }

    #[test]
    fn statistics_never_panic(
        x in prop::collection::vec(prop_oneof![-1e6f64..1e6, Just(0.0), Just(f64::MAX), Just(f64::NAN)], 0..40),
        shift in -2.0f64..2.0,
        method in 0usize..4,
        cc in any::<bool>(),
    ) {
        let y: Vec<f64> = x.iter().map(|v| v * 0.5 + shift).collect();
        let cfg = WilcoxonConfig {
            method: [WilcoxonMethod::Auto, WilcoxonMethod::Exact, WilcoxonMethod::Normal, WilcoxonMethod::Permutation][method],
            continuity_correction: cc,
            ..Default::default()
        };
        if let Ok(r) = wilcoxon_signed_rank(&x, &y, &cfg) {
            prop_assert!((0.0..=1.0).contains(&r.p_value));
            prop_assert!(r.statistic.is_finite() && r.w_plus.is_finite() && r.w_minus.is_finite());
            prop_assert!(r.z.is_none_or(f64::is_finite));
        }
        let s = Scores::new(x.clone());
        finite_scores(s);
    }
}
