//! iGOS++: hand-computed loss and first step on a linear model, mask
//! concentration on the region an additive model reads, monotone loss under
//! the line search, determinism (seed, chunk size, batch composition),
//! registry and typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use candle_core::{Device, Tensor};
use ndarray::{Array, ArrayD, IxDyn};
use salience_core::{BatchSize, Explainer, SalienceError, Seeds};
use salience_explain::{registry, Baseline, IGosConfig, IGosPlusPlus, ModuleClassifier};
use std::sync::Arc;

type Forward = Box<dyn Fn(&Tensor) -> candle_core::Result<Tensor> + Send + Sync>;
type Clf = ModuleClassifier<Forward>;

/// Two classes over `[N, C, H, W]` inputs: logits `(w · vec(x), 0)`.
fn linear_logit(w: Vec<f32>) -> Clf {
    let len = w.len();
    let wt = Tensor::from_vec(w, (len, 1), &Device::Cpu).unwrap();
    let f: Forward = Box::new(move |x: &Tensor| {
        let l = x.flatten_from(1)?.matmul(&wt)?;
        Tensor::cat(&[&l, &l.zeros_like()?], 1)
    });
    ModuleClassifier::new(f, 2)
}

fn small(mask: usize) -> IGosConfig {
    IGosConfig {
        mask_size: mask,
        iterations: 4,
        ig_steps: 3,
        l1: 1.0,
        l2: 1.0,
        baseline: Baseline::Zeros,
        ..IGosConfig::default()
    }
}

#[test]
fn initial_loss_and_first_step_match_hand_computation() {
    // Linear logit f(z) = w·z (softmax off), zero baseline, no noise, mask
    // at image resolution (the upsampling is then the identity).
    let (h, w) = (3usize, 3usize);
    let wv: Vec<f32> = vec![0.5, -0.2, 0.1, 0.0, 0.3, -0.4, 0.2, 0.05, -0.1];
    let xv: Vec<f32> = vec![1.0, 0.5, -1.0, 2.0, 0.7, 0.3, -0.5, 1.5, 0.8];
    let n = 4usize;
    let alpha = 0.01f32;
    let cfg = IGosConfig {
        mask_size: 3,
        iterations: 1,
        ig_steps: n,
        l1: 0.0,
        l2: 0.0,
        armijo: 0.0,
        alpha_max: alpha,
        noise_std: 0.0,
        softmax: false,
        baseline: Baseline::Zeros,
        ..IGosConfig::default()
    };
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, h, w]), xv.clone()).unwrap();
    let out = IGosPlusPlus::with_config(linear_logit(wv.clone()), cfg)
        .explain_with_trace(x.view(), &[0], Seeds::base(3))
        .unwrap();
    let fx: f64 = wv
        .iter()
        .zip(&xv)
        .map(|(a, b)| (*a as f64) * (*b as f64))
        .sum();
    // At M = 1: D = f(x)(n+1)/(2n), I = f(x)(n−1)/(2n), L = 2D − 2I = 2 f(x)/n.
    let l0 = out.objective[0][0] as f64;
    assert!(
        (l0 - 2.0 * fx / n as f64).abs() < 1e-5,
        "{l0} vs {}",
        2.0 * fx / n as f64
    );
    // Gradient at M = 1 for either mask: (3/2)·((n+1)/(2n))·w⊙x (three
    // terms involve each mask, halved); one step of α, clamped to [0, 1].
    let c = (n as f64 + 1.0) / (2.0 * n as f64);
    for masks in [&out.deletion_masks, &out.insertion_masks] {
        for (q, (&wq, &xq)) in wv.iter().zip(&xv).enumerate() {
            let g = 1.5 * c * wq as f64 * xq as f64;
            let want = (1.0 - alpha as f64 * g).clamp(0.0, 1.0);
            let got = masks[[0, q / w, q % w]] as f64;
            assert!((got - want).abs() < 1e-6, "pixel {q}: {got} vs {want}");
        }
    }
    // The step decreased the loss (the line search accepted α_max).
    assert!(out.objective[0][1] < out.objective[0][0]);
    // Attribution = 1 − M_d ⊙ M_i.
    let a = out.attributions.view();
    for q in 0..h * w {
        let m = out.deletion_masks[[0, q / w, q % w]] * out.insertion_masks[[0, q / w, q % w]];
        assert!((a[[0, 0, q / w, q % w]] - (1.0 - m)).abs() < 1e-6);
    }
}

/// An additive model reading only a 4 × 4 region of a 12 × 12 image.
fn region_model() -> (Clf, Vec<bool>) {
    let (h, w) = (12, 12);
    let mut inside = vec![false; h * w];
    let mut wv = vec![0f32; h * w];
    for i in 3..7 {
        for j in 5..9 {
            inside[i * w + j] = true;
            wv[i * w + j] = 0.2;
        }
    }
    (linear_logit(wv), inside)
}

/// Mann–Whitney AUC of the attribution separating region from background.
fn ranking_auc(a: &[f32], inside: &[bool]) -> f64 {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (v, &m) in a.iter().zip(inside) {
        if m {
            pos.push(*v)
        } else {
            neg.push(*v)
        }
    }
    let mut s = 0.0;
    for p in &pos {
        for q in &neg {
            s += if p > q {
                1.0
            } else if p == q {
                0.5
            } else {
                0.0
            };
        }
    }
    s / (pos.len() * neg.len()) as f64
}

#[test]
fn mask_concentrates_on_the_region_the_model_reads() {
    let (clf, inside) = region_model();
    // Positive image (the logit of the region is 3.2 at x = 1), random
    // background the model ignores.
    let bg = common::randn(&[144], 1.0, 5);
    let xv: Vec<f32> = bg
        .iter()
        .zip(&inside)
        .map(|(b, &m)| if m { 1.0 } else { *b })
        .collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 12, 12]), xv).unwrap();
    let cfg = IGosConfig {
        mask_size: 6,
        iterations: 6,
        ig_steps: 4,
        l1: 1.0,
        l2: 1.0,
        baseline: Baseline::Zeros,
        ..IGosConfig::default()
    };
    let e = IGosPlusPlus::with_config(clf, cfg);
    let a = e.explain(x.view(), &[0], Seeds::base(11)).unwrap();
    let flat: Vec<f32> = a.view().iter().copied().collect();
    let auc = ranking_auc(&flat, &inside);
    assert!(auc > 0.9, "ranking AUC {auc}");
    // The map is in [0, 1] and not constant.
    assert!(flat.iter().all(|v| (0.0..=1.0).contains(v)));
    let max = flat.iter().cloned().fold(f32::MIN, f32::max);
    assert!(max > 0.1, "max attribution {max}");
}

#[test]
fn line_search_never_increases_the_loss_without_noise() {
    let m = common::cnn();
    let x = common::array(&[3, 2, 4, 4], 1.0, 21);
    let cfg = IGosConfig {
        mask_size: 3,
        iterations: 6,
        ig_steps: 3,
        l1: 0.5,
        l2: 0.5,
        noise_std: 0.0,
        baseline: Baseline::RandomNormal,
        ..IGosConfig::default()
    };
    let out = IGosPlusPlus::with_config(&m, cfg)
        .explain_with_trace(x.view(), &[0, 1, 2], Seeds::base(4))
        .unwrap();
    for (i, l) in out.objective.iter().enumerate() {
        assert_eq!(l.len(), 7);
        for win in l.windows(2) {
            assert!(win[1] <= win[0] + 1e-6, "image {i}: {l:?}");
        }
        assert!(l[6] < l[0], "image {i} did not improve: {l:?}");
    }
    for v in out.deletion_masks.iter().chain(out.insertion_masks.iter()) {
        assert!((0.0..=1.0).contains(v));
    }
    // Per iteration: one gradient pass and one base-loss pass over
    // 3 images × 4 terms × 3 steps, plus ≥ 1 line-search trial.
    assert_eq!(out.gradient_evaluations, 6 * 3 * 4 * 3);
    assert!(out.model_evaluations >= 3 * out.gradient_evaluations);
}

#[test]
fn seeded_and_independent_of_chunk_size_and_batch() {
    let m = common::cnn();
    let x = common::array(&[3, 2, 4, 4], 1.0, 31);
    let targets = [2, 0, 1];
    let run = |bs: usize, seed: u64| {
        let cfg = IGosConfig {
            batch_size: BatchSize::fixed(bs).unwrap(),
            baseline: Baseline::RandomNormal,
            ..small(2)
        };
        IGosPlusPlus::with_config(&m, cfg)
            .explain(x.view(), &targets, Seeds::base(seed))
            .unwrap()
            .into_inner()
    };
    let a = run(64, 7);
    assert_eq!(a, run(64, 7));
    assert_eq!(a, run(1, 7));
    assert_eq!(a, run(5, 7));
    assert_ne!(a, run(64, 8));
    // Image 1 alone, with its seed, gives the same map.
    let seeds = [
        Seeds::base(7).for_sample(0),
        Seeds::base(7).for_sample(1),
        Seeds::base(7).for_sample(2),
    ];
    let cfg = IGosConfig {
        baseline: Baseline::RandomNormal,
        ..small(2)
    };
    let one = IGosPlusPlus::with_config(&m, cfg)
        .explain(
            x.slice(ndarray::s![1..2, .., .., ..]).into_dyn(),
            &[0],
            Seeds::per_sample(&seeds[1..2]),
        )
        .unwrap()
        .into_inner();
    assert_eq!(
        one.index_axis(ndarray::Axis(0), 0),
        a.index_axis(ndarray::Axis(0), 1)
    );
}

#[test]
fn three_dimensional_inputs_and_softmax_off() {
    let (clf, _) = region_model();
    let x = Array::from_elem((2, 12, 12), 0.5f32).into_dyn();
    let cfg = IGosConfig {
        softmax: false,
        ..small(4)
    };
    let a = IGosPlusPlus::with_config(clf, cfg)
        .explain(x.view(), &[0, 1], Seeds::base(0))
        .unwrap();
    assert_eq!(a.view().shape(), &[2, 12, 12]);
    assert!(a.view().iter().all(|v| v.is_finite()));
}

#[test]
fn registry_builds_igos_with_presets_and_keys() {
    let m = Arc::new(common::cnn());
    let e = registry::build("igos++:mask_size=2,iterations=2,ig_steps=2,l1=0.5", &m).unwrap();
    assert_eq!(e.name(), "igos_pp");
    let x = common::array(&[2, 2, 4, 4], 1.0, 3);
    let a = e.explain(x.view(), &[0, 1], Seeds::base(1)).unwrap();
    assert_eq!(a.view().shape(), &[2, 2, 4, 4]);
    // The same explainer built directly gives the same map.
    let direct = IGosPlusPlus::with_config(
        m.clone(),
        IGosConfig {
            mask_size: 2,
            iterations: 2,
            ig_steps: 2,
            l1: 0.5,
            ..IGosConfig::default()
        },
    )
    .explain(x.view(), &[0, 1], Seeds::base(1))
    .unwrap();
    assert_eq!(a, direct);
    assert!(registry::build("igospp:preset=reference,mask_size=3,baseline=zeros", &m).is_ok());
    for bad in [
        "igos_pp:preset=paper",
        "igos_pp:mask=3",
        "igos_pp:iterations=0",
        "igos_pp:decay=1.5",
        "igos_pp:l2=-1",
    ] {
        assert!(
            matches!(
                registry::build(bad, &m),
                Err(SalienceError::InvalidParameter { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn bad_input_and_config_give_typed_errors() {
    let m = common::cnn();
    let x = common::array(&[1, 2, 4, 4], 1.0, 1);
    let err = |cfg: IGosConfig, x: &ArrayD<f32>, t: &[usize]| {
        IGosPlusPlus::with_config(&m, cfg)
            .explain(x.view(), t, Seeds::base(0))
            .unwrap_err()
    };
    let base = small(2);
    let invalid = [
        IGosConfig {
            iterations: 0,
            ..base.clone()
        },
        IGosConfig {
            ig_steps: 0,
            ..base.clone()
        },
        IGosConfig {
            mask_size: 5,
            ..base.clone()
        },
        IGosConfig {
            mask_size: 1,
            ..base.clone()
        },
        IGosConfig {
            l1: -1.0,
            ..base.clone()
        },
        IGosConfig {
            l2: f32::NAN,
            ..base.clone()
        },
        IGosConfig {
            decay: 1.0,
            ..base.clone()
        },
        IGosConfig {
            alpha_max: 0.0,
            ..base.clone()
        },
        IGosConfig {
            alpha_min: 100.0,
            ..base.clone()
        },
        IGosConfig {
            tv_beta: 0.5,
            ..base.clone()
        },
        IGosConfig {
            tv_sigma: 0.0,
            ..base.clone()
        },
        IGosConfig {
            noise_std: f32::INFINITY,
            ..base.clone()
        },
        IGosConfig {
            armijo: -0.1,
            ..base.clone()
        },
    ];
    for cfg in invalid {
        let e = err(cfg.clone(), &x, &[0]);
        assert!(
            matches!(e, SalienceError::InvalidParameter { .. }),
            "{cfg:?}: {e}"
        );
    }
    // A batch size of 0 cannot be built (issue 20: one batch-size type).
    assert!(matches!(
        BatchSize::fixed(0),
        Err(SalienceError::InvalidParameter { .. })
    ));
    // The App. A default (50 × 50 mask) on a 4 × 4 image.
    assert!(matches!(
        err(IGosConfig::default(), &x, &[0]),
        SalienceError::InvalidParameter { .. }
    ));
    let mut nan = x.clone();
    nan[[0, 1, 2, 3]] = f32::NAN;
    assert!(matches!(
        err(base.clone(), &nan, &[0]),
        SalienceError::NonFinite { .. }
    ));
    assert!(matches!(
        err(base.clone(), &x, &[3]),
        SalienceError::TargetOutOfRange { target: 3, .. }
    ));
    assert!(matches!(
        err(base.clone(), &x, &[0, 1]),
        SalienceError::TargetCount { .. }
    ));
    let flat = common::array(&[1, 32], 1.0, 1);
    assert!(matches!(
        err(base, &flat, &[0]),
        SalienceError::ShapeMismatch { .. }
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(salience_core::validate::fuzz_cases(12)))]

    /// Any valid configuration on any finite image gives finite maps in
    /// [0, 1] that equal 1 − up(M_d ⊙ M_i) at the mask's grid points
    /// (mask = image size), masks in [0, 1] and a finite loss trace.
    #[test]
    fn maps_and_masks_stay_in_range(
        seed in 0u64..1000,
        s in 2usize..=5,
        iterations in 1usize..=3,
        steps in 1usize..=3,
        l1 in 0.0f32..5.0,
        l2 in 0.0f32..5.0,
        noise in 0.0f32..0.5,
    ) {
        let wv = common::randn(&[25], 0.5, seed);
        let x = common::array(&[2, 1, 5, 5], 1.0, seed + 1);
        let cfg = IGosConfig {
            mask_size: s,
            iterations,
            ig_steps: steps,
            l1,
            l2,
            noise_std: noise,
            baseline: Baseline::RandomNormal,
            ..IGosConfig::default()
        };
        let out = IGosPlusPlus::with_config(linear_logit(wv), cfg)
            .explain_with_trace(x.view(), &[0, 1], Seeds::base(seed))
            .unwrap();
        let a = out.attributions.view();
        proptest::prop_assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        for m in [&out.deletion_masks, &out.insertion_masks] {
            proptest::prop_assert!(m.iter().all(|v| (0.0..=1.0).contains(v)));
        }
        for l in &out.objective {
            proptest::prop_assert_eq!(l.len(), iterations + 1);
            proptest::prop_assert!(l.iter().all(|v| v.is_finite()));
        }
        if s == 5 {
            for i in 0..2 {
                for p in 0..25 {
                    let m = out.deletion_masks[[i, p / 5, p % 5]]
                        * out.insertion_masks[[i, p / 5, p % 5]];
                    proptest::prop_assert!((a[[i, 0, p / 5, p % 5]] - (1.0 - m)).abs() < 1e-5);
                }
            }
        }
    }
}

/// Reference values from a float64 numpy transliteration of the authors'
/// `iGOS_pp` (line search, noise off), with its gradients taken by central
/// finite differences of the transliterated loss (independent of the
/// analytic gradients here): 2 images of 2×4×4, 3 classes (linear logits
/// `W vec(x)`, softmax), constant baseline 0.1, 3 × 3 masks, 2 iterations,
/// 3 integration steps, λ₁ = 0.5, λ₂ = 0.7, α_max = 5, σ = 0.5, β = 2.
/// Image 1's second step hits α < α_min (the failing-step path).
#[test]
fn matches_a_transliteration_of_the_reference_code() {
    let w: Vec<f32> = vec![
        1.02, -1.28, 0.21, -0.28, -0.23, -0.11, -1.01, -0.12, -0.43, 1.66, 0.11, -0.18, -0.14,
        -0.33, -0.53, -0.2, 0.24, -0.12, 0.48, -0.1, 0.01, 0.77, 0.27, -0.25, -0.09, 0.27, 0.97,
        -0.13, -0.12, 0.5, -0.44, -0.15, 0.44, 0.29, 0.05, 0.34, -1.41, 0.51, -0.48, -0.83, 0.14,
        0.35, -0.22, -0.54, 0.01, -0.03, 0.7, 0.37, 0.1, 0.56, -0.1, -0.46, 0.29, 0.29, -0.11,
        -0.39, 0.11, -1.25, 0.35, 0.25, -0.82, 0.03, -0.48, 0.38, -1.02, -0.46, 0.35, 0.58, -1.08,
        -0.25, 0.16, -0.3, 0.8, -0.6, 0.18, -0.52, 0.7, -0.01, -0.19, -0.86, 0.84, 0.38, 0.38,
        0.57, 0.17, -0.32, -0.4, -0.4, 0.69, -0.73, -0.3, -0.16, 0.11, 0.29, -0.62, -0.87,
    ];
    let x: Vec<f32> = vec![
        -0.0, 1.21, 0.76, 0.22, -0.32, 0.29, -0.24, 0.82, -0.79, 0.13, -0.11, 0.54, 0.22, 2.55,
        1.5, 1.5, -2.04, -0.34, -0.61, 0.53, -2.28, 1.17, 1.07, -1.3, -0.98, -0.8, 0.04, 0.64,
        2.05, -0.2, 0.77, 0.16, 1.76, 0.74, 1.37, -1.08, -0.19, -0.81, 1.5, 0.66, -0.31, -0.45,
        0.48, -0.7, -0.93, 0.48, 2.46, -0.25, -0.56, -1.17, -1.34, 0.52, 0.85, 0.01, 0.33, 0.12,
        0.14, -1.53, -0.46, 0.11, -0.78, -0.48, -0.82, -0.33,
    ];
    let md: [[f64; 9]; 2] = [
        [
            0.932469577,
            1.000000000,
            0.989841332,
            0.721545223,
            0.924984268,
            0.950758738,
            0.510374607,
            1.000000000,
            1.000000000,
        ],
        [
            1.000000000,
            0.947962617,
            0.990866360,
            0.983937537,
            0.518354219,
            0.799262402,
            1.000000000,
            0.999999781,
            0.784220110,
        ],
    ];
    let mi: [[f64; 9]; 2] = [
        [
            0.928744621,
            1.000000000,
            1.000000000,
            0.532719950,
            0.914740769,
            0.891598981,
            0.405932329,
            1.000000000,
            1.000000000,
        ],
        [
            1.000000000,
            0.899526017,
            0.999999905,
            0.941063714,
            0.220267877,
            0.698251091,
            1.000000000,
            0.999999914,
            0.652113277,
        ],
    ];
    let obj: [[f64; 3]; 2] = [
        [-0.234826361, -0.355438080, -0.363931418],
        [-0.182581983, -0.297055903, -0.297055899],
    ];
    let wt = Tensor::from_vec(w, (3, 32), &Device::Cpu).unwrap();
    let fc = candle_nn::Linear::new(wt, None);
    let clf = ModuleClassifier::new(
        move |x: &Tensor| candle_core::Module::forward(&fc, &x.flatten_from(1)?),
        3,
    );
    let cfg = IGosConfig {
        mask_size: 3,
        iterations: 2,
        ig_steps: 3,
        l1: 0.5,
        l2: 0.7,
        alpha_max: 5.0,
        tv_sigma: 0.5,
        noise_std: 0.0,
        baseline: Baseline::Constant(0.1),
        ..IGosConfig::default()
    };
    let x = ArrayD::from_shape_vec(IxDyn(&[2, 2, 4, 4]), x).unwrap();
    let out = IGosPlusPlus::with_config(clf, cfg)
        .explain_with_trace(x.view(), &[0, 2], Seeds::base(0))
        .unwrap();
    for i in 0..2 {
        for q in 0..9 {
            let (gd, gi) = (
                out.deletion_masks[[i, q / 3, q % 3]] as f64,
                out.insertion_masks[[i, q / 3, q % 3]] as f64,
            );
            assert!(
                (gd - md[i][q]).abs() < 1e-5,
                "M_d[{i}][{q}]: {gd} vs {}",
                md[i][q]
            );
            assert!(
                (gi - mi[i][q]).abs() < 1e-5,
                "M_i[{i}][{q}]: {gi} vs {}",
                mi[i][q]
            );
        }
        for (k, want) in obj[i].iter().enumerate() {
            let got = out.objective[i][k] as f64;
            assert!((got - want).abs() < 1e-6, "L[{i}][{k}]: {got} vs {want}");
        }
    }
}
