//! The `Metric` seam: every metric through the trait gives exactly its free
//! function's outcomes on the same batch and seeds; one undefined sample
//! leaves the others' scores exactly as when scored alone; `evaluate` over a
//! panel; a batch missing what a metric needs is a typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array2, Array3, Array4, ArrayD, ArrayViewD, Axis};
use salience_core::{AttributionBatch, Explainer, LinearModel, Result, SalienceError, Seeds};
use salience_metrics::*;

const N: usize = 3;
const SEEDS: [u64; N] = [7, 8, 9];

/// A two-class linear model over 4×4 single-channel images.
fn model() -> LinearModel {
    LinearModel::new(
        Array2::from_shape_fn((2, 16), |(c, j)| {
            ((j as f32 * 0.37 + c as f32).sin() + 0.1 * j as f32) * if c == 0 { 1.0 } else { -0.5 }
        }),
        ndarray::array![0.0f32, 0.2],
    )
    .unwrap()
}

fn inputs() -> ArrayD<f32> {
    Array4::from_shape_fn((N, 1, 4, 4), |(i, _, y, x)| {
        0.2 + ((i * 5 + y * 4 + x) % 7) as f32 / 7.0
    })
    .into_dyn()
}

/// Input × weight of the target: the exact attribution of the linear model
/// for a zero baseline, raised to `power` (the "randomised" MPRT stages).
struct InputTimesWeight {
    w: Array2<f32>,
    power: i32,
}

impl Explainer for InputTimesWeight {
    fn name(&self) -> &str {
        "x*w"
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        targets: &[usize],
        _: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let w = |i: usize, j: usize| targets.get(i).map_or(0.0, |&t| self.w[[t, j]]);
        AttributionBatch::new(ArrayD::from_shape_fn(x.raw_dim(), |ix| {
            (x[&ix] * w(ix[0], ix[2] * 4 + ix[3])).powi(self.power)
        }))
    }
}

fn explainer(power: i32) -> InputTimesWeight {
    let w = Array2::from_shape_fn((2, 16), |(c, j)| {
        ((j as f32 * 0.37 + c as f32).sin() + 0.1 * j as f32) * if c == 0 { 1.0 } else { -0.5 }
    });
    InputTimesWeight { w, power }
}

/// `explainer(1)`'s maps, with the samples in `zero` set to all zero.
fn maps(zero: &[usize]) -> AttributionBatch {
    let x = inputs();
    let mut a = explainer(1)
        .explain(x.view(), &[0, 1, 0], Seeds::base(0))
        .unwrap()
        .view()
        .to_owned();
    for &i in zero {
        a.index_axis_mut(Axis(0), i).fill(0.0);
    }
    AttributionBatch::new(a).unwrap()
}

fn masks() -> MaskBatch {
    MaskBatch::from_bool(Array3::from_shape_fn((N, 4, 4), |(i, y, x)| {
        (y + x + i) % 3 == 0
    }))
    .unwrap()
}

fn boxes() -> Vec<BoundingBox> {
    vec![BoundingBox::new(1, 1, 3, 3).unwrap(); N]
}

fn segments() -> Array3<u32> {
    Array3::from_shape_fn((N, 4, 4), |(_, y, x)| (y / 2 * 2 + x / 2) as u32)
}

fn representation(x: ArrayViewD<'_, f32>) -> Result<Array2<f32>> {
    let n = x.shape()[0];
    let flat = x.to_owned().into_shape_with_order((n, 16)).unwrap();
    Ok(flat.mapv(|v| (2.0 * v).tanh()))
}

fn cascade(k: usize) -> Result<Box<dyn Explainer>> {
    Ok(Box::new(explainer(k as i32 + 1)))
}

const TARGETS: [usize; N] = [0, 1, 0];

fn infd() -> InfidelityConfig {
    InfidelityConfig {
        n_perturbations: 8,
        ..InfidelityConfig::captum_normalized()
    }
}

/// MPRT with a 3 × 3 SSIM window (the maps are 4 × 4).
fn mprt_cfg() -> MprtConfig {
    MprtConfig {
        ssim: SsimConfig {
            window: SsimWindow::Uniform { size: 3 },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn fcor() -> FaithfulnessCorrelationConfig {
    FaithfulnessCorrelationConfig {
        perturbation: Perturbation::RandomPixelCount {
            count: 3,
            baseline: Baseline::Constant(0.0),
        },
        n_runs: 8,
        ..Default::default()
    }
}

fn sens() -> SensitivityConfig {
    SensitivityConfig {
        n_samples: 4,
        ..SensitivityConfig::decker2024()
    }
}

fn stab() -> StabilityConfig {
    StabilityConfig {
        n_samples: 4,
        ..Default::default()
    }
}

fn road_cfg(order: RoadOrder) -> RoadConfig {
    RoadConfig {
        percentages: vec![25.0, 50.0],
        order,
        ..RoadConfig::decker2024()
    }
}

#[test]
fn every_metric_through_the_trait_equals_its_free_function() {
    let (m, x, a, mk, bx, sg) = (model(), inputs(), maps(&[]), masks(), boxes(), segments());
    let e = explainer(1);
    let repr = representation;
    let at: &dyn Fn(usize) -> Result<Box<dyn Explainer>> = &cascade;
    let batch = EvalBatch::new(&m, x.view(), &TARGETS, &a)
        .unwrap()
        .with_masks(&mk)
        .unwrap()
        .with_boxes(&bx)
        .unwrap()
        .with_segments(sg.view())
        .unwrap()
        .with_explainer(&e)
        .with_representation(&repr)
        .with_cascade(at, 2)
        .unwrap();
    let s = Seeds::per_sample(&SEEDS);
    let t = &TARGETS;
    let px = PixelMapConfig::default();
    let curve = CurveConfig::default();
    let cum = CumulativeInfidelityConfig {
        patch_size: 2,
        ..Default::default()
    };
    let check = |metric: &dyn Metric, free: Outcomes| {
        let via = metric.score(&batch, s).unwrap();
        assert_eq!(via, free, "{}", metric.name());
        assert_eq!(via.len(), N, "{}", metric.name());
    };
    check(
        &SparsenessConfig::default(),
        gini_sparseness(&a, &SparsenessConfig::default()).unwrap(),
    );
    check(
        &ComplexityConfig::default(),
        entropy_complexity(&a, &ComplexityConfig::default()).unwrap(),
    );
    let pg = PointingGameConfig::default();
    check(&pg, pointing_game(&a, &mk, &pg).unwrap());
    check(
        &RankAccuracy(px),
        relevance_rank_accuracy(&a, &mk, &px).unwrap(),
    );
    check(
        &MassAccuracy(px),
        relevance_mass_accuracy(&a, &mk, &px).unwrap(),
    );
    check(&RankingAuc(px), ranking_auc(&a, &mk, &px).unwrap());
    let tk = TopKConfig {
        k: 3,
        ..Default::default()
    };
    check(&tk, top_k_intersection(&a, &mk, &tk).unwrap());
    let bl = BoxLocalizationConfig::default();
    check(&bl, box_localization(&a, &bx, &bl).unwrap().iou);
    check(
        &Insertion(curve),
        insertion(&m, x.view(), &a, t, &curve, s)
            .unwrap()
            .auc
            .into(),
    );
    check(
        &Deletion(curve),
        deletion(&m, x.view(), &a, t, &curve, s).unwrap().auc.into(),
    );
    let infd_out = infidelity(&m, x.view(), &a, t, &infd(), s).unwrap();
    assert_eq!(infd_out.draws(), Some(8));
    check(&infd(), infd_out);
    check(
        &cum,
        infidelity_cumulative(&m, x.view(), &a, t, &cum).unwrap(),
    );
    let fc_out = faithfulness_correlation(&m, x.view(), &a, t, &fcor(), s).unwrap();
    assert_eq!(fc_out.sem().map(<[f64]>::len), Some(N));
    check(&fcor(), fc_out);
    for order in [RoadOrder::MoRF, RoadOrder::LeRF] {
        let rc = road_cfg(order);
        check(&rc, road(&m, x.view(), &a, t, &rc, s).unwrap().mean.into());
    }
    let sv = sensitivity(&e, x.view(), t, &sens(), s).unwrap();
    let avg = Outcomes::from(sv.average.clone())
        .with_sem(sv.average_sem.clone(), 4)
        .unwrap();
    check(
        &Sensitivity {
            config: sens(),
            statistic: SensitivityStatistic::Average,
        },
        avg,
    );
    check(
        &Sensitivity {
            config: sens(),
            statistic: SensitivityStatistic::Max,
        },
        sv.max.into(),
    );
    let plain = relative_stability(&m, &e, None, x.view(), t, &stab(), s).unwrap();
    let with_repr = relative_stability(&m, &e, Some(&repr), x.view(), t, &stab(), s).unwrap();
    for (kind, expect) in [
        (StabilityKind::Input, plain.ris),
        (StabilityKind::Output, plain.ros),
        (StabilityKind::Representation, with_repr.rrs.unwrap()),
    ] {
        check(
            &Stability {
                config: stab(),
                kind,
            },
            expect,
        );
    }
    let mp = mprt(at, 2, x.view(), t, &mprt_cfg(), s).unwrap();
    check(
        &Mprt {
            config: mprt_cfg(),
            similarity: MprtSimilarity::Spearman,
        },
        mp.spearman[1].clone(),
    );
    check(
        &Mprt {
            config: mprt_cfg(),
            similarity: MprtSimilarity::Ssim,
        },
        mp.ssim.unwrap()[1].clone(),
    );
    // Segments in the batch are what RandomSegments perturbs: with one
    // segment per 2×2 block and half the segments removed, the exact map
    // x ⊙ w has zero infidelity (indicator projection, zero baseline).
    let seg_cfg = InfidelityConfig {
        perturbation: Perturbation::RandomSegments {
            share: 0.5,
            baseline: Baseline::Constant(0.0),
        },
        projection: Projection::Indicator,
        n_perturbations: 6,
        normalize: false,
        score: ScoreKind::Raw,
        ..Default::default()
    };
    let exact = seg_cfg.score(&batch, s).unwrap().strict().unwrap();
    assert!(exact.values().iter().all(|&v| v < 1e-9), "{exact:?}");
}

#[test]
fn one_undefined_sample_keeps_the_others_scores_exactly() {
    let (m, x) = (model(), inputs());
    let with_zero = maps(&[1]);
    let batch = EvalBatch::new(&m, x.view(), &TARGETS, &with_zero).unwrap();
    let panel: Vec<Box<dyn Metric>> = vec![
        Box::new(SparsenessConfig::default()),
        Box::new(ComplexityConfig::default()),
        Box::new(infd()),
        Box::new(fcor()),
    ];
    for metric in &panel {
        let full = metric.score(&batch, Seeds::per_sample(&SEEDS)).unwrap();
        assert_eq!(full.n_defined(), N - 1, "{}", metric.name());
        let undefined = full.undefined();
        assert_eq!(undefined.len(), 1, "{}", metric.name());
        assert_eq!(undefined[0].0, 1);
        assert!(matches!(
            undefined[0].1,
            Undefined::DegenerateMap(_) | Undefined::ZeroVariance
        ));
        assert!(full.strict().is_err());
        assert_eq!(full.summary().n, N - 1);
        for i in [0, 2] {
            let xi = x.select(Axis(0), &[i]);
            let ai = AttributionBatch::new(with_zero.view().select(Axis(0), &[i])).unwrap();
            let ti = [TARGETS[i]];
            let alone = EvalBatch::new(&m, xi.view(), &ti, &ai).unwrap();
            let one = metric
                .score(&alone, Seeds::per_sample(&SEEDS[i..i + 1]))
                .unwrap();
            assert_eq!(full.get(i), one.get(0), "{} sample {i}", metric.name());
            assert_eq!(
                full.sem().map(|s| s[i]),
                one.sem().map(|s| s[0]),
                "{} sem {i}",
                metric.name()
            );
        }
    }
}

#[test]
fn evaluate_scores_a_panel_into_a_table() {
    let (m, x, a, mk) = (model(), inputs(), maps(&[1]), masks());
    let batch = EvalBatch::new(&m, x.view(), &TARGETS, &a)
        .unwrap()
        .with_masks(&mk)
        .unwrap();
    let gini = SparsenessConfig::default();
    let pg = PointingGameConfig::default();
    let del = Deletion(CurveConfig::default());
    let panel: [&dyn Metric; 3] = [&gini, &pg, &del];
    let s = Seeds::per_sample(&SEEDS);
    let r = evaluate(&panel, &batch, s).unwrap();
    assert_eq!(
        r.columns(),
        &[
            ("gini_sparseness".to_string(), Better::Higher),
            ("pointing_game".to_string(), Better::Higher),
            ("deletion".to_string(), Better::Lower),
        ]
    );
    for (metric, out) in panel.iter().zip(r.outcomes()) {
        assert_eq!(out, &metric.score(&batch, s).unwrap());
    }
    // The all-zero sample 1 is undefined for the map metrics, not deletion.
    let n: Vec<usize> = r.summaries().iter().map(|s| s.unwrap().n).collect();
    assert_eq!(n, vec![2, 2, 3]);
    let table = r.to_table("x*w").unwrap();
    assert_eq!(table.rows().len(), 1);
    assert_eq!(table.rows()[0].1, r.summaries());
    // Appending to a table of other columns is a typed error.
    let mut other = ScoreTable::new(&[("infidelity", Better::Lower)]).unwrap();
    assert!(matches!(
        r.push_into(&mut other, "x*w"),
        Err(SalienceError::InvalidParameter { .. })
    ));
    assert!(matches!(
        evaluate(&[], &batch, s),
        Err(SalienceError::Empty(_))
    ));
    assert!(evaluate(&panel, &batch, Seeds::per_sample(&SEEDS[..1])).is_err());
}

#[test]
fn a_batch_missing_what_a_metric_needs_is_a_typed_error() {
    let (m, x, a) = (model(), inputs(), maps(&[]));
    let bare = EvalBatch::new(&m, x.view(), &TARGETS, &a).unwrap();
    let s = Seeds::per_sample(&SEEDS);
    let px = PixelMapConfig::default();
    let needs: Vec<(Box<dyn Metric>, &str)> = vec![
        (Box::new(PointingGameConfig::default()), "masks"),
        (Box::new(RankAccuracy(px)), "masks"),
        (Box::new(MassAccuracy(px)), "masks"),
        (Box::new(RankingAuc(px)), "masks"),
        (Box::new(TopKConfig::default()), "masks"),
        (Box::new(BoxLocalizationConfig::default()), "boxes"),
        (Box::new(Sensitivity::default()), "explainer"),
        (Box::new(Stability::default()), "explainer"),
        (Box::new(Mprt::default()), "cascade"),
    ];
    for (metric, what) in &needs {
        match metric.score(&bare, s) {
            Err(SalienceError::InvalidParameter { name, .. }) => {
                assert!(name.contains(what), "{}: {name}", metric.name())
            }
            other => panic!("{}: {other:?}", metric.name()),
        }
    }
    // RRS needs the representation too.
    let e = explainer(1);
    let with_e = bare.clone().with_explainer(&e);
    let rrs = Stability {
        config: stab(),
        kind: StabilityKind::Representation,
    };
    assert!(matches!(
        rrs.score(&with_e, s),
        Err(SalienceError::InvalidParameter { name, .. }) if name.contains("representation")
    ));
    // Segment perturbations without segments.
    let seg = InfidelityConfig {
        perturbation: Perturbation::RandomSegments {
            share: 0.5,
            baseline: Baseline::Constant(0.0),
        },
        ..infd()
    };
    assert!(matches!(
        seg.score(&bare, s),
        Err(SalienceError::InvalidParameter { .. })
    ));
    // The batch itself is checked when built.
    assert!(matches!(
        EvalBatch::new(&m, x.view(), &TARGETS[..2], &a),
        Err(SalienceError::TargetCount { .. })
    ));
    let two = AttributionBatch::new(a.view().select(Axis(0), &[0, 1])).unwrap();
    assert!(matches!(
        EvalBatch::new(&m, x.view(), &TARGETS, &two),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    let few = MaskBatch::from_bool(Array3::from_elem((2, 4, 4), true)).unwrap();
    assert!(matches!(
        bare.clone().with_masks(&few),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    let one_box = boxes();
    assert!(matches!(
        bare.clone().with_boxes(&one_box[..1]),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    let seg_few = Array3::<u32>::zeros((1, 4, 4));
    assert!(matches!(
        bare.clone().with_segments(seg_few.view()),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    let at: &dyn Fn(usize) -> Result<Box<dyn Explainer>> = &cascade;
    assert!(matches!(
        bare.with_cascade(at, 0),
        Err(SalienceError::InvalidParameter { .. })
    ));
}
