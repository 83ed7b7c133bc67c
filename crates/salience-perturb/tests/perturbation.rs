//! Analytic, determinism and error tests of the black-box perturbation
//! explainers (Occlusion, Feature Ablation, Shapley Value Sampling,
//! KernelSHAP, LIME, RISE) and of SLIC.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

/// A scalar function of one sample's features.
type ScalarFn = dyn Fn(&[f32]) -> f32 + Send + Sync;

use common::array;
use ndarray::{Array1, Array2, ArrayD, ArrayViewD, Axis, IxDyn};
use salience_core::{BatchSize, Explainer, FnModel, LinearModel, Model, SalienceError, Seeds};
use salience_perturb::baseline::gaussian_blur;
use salience_perturb::{
    slic, Baseline, FeatureAblation, FeatureAblationConfig, FeatureMask, KernelShap,
    KernelShapConfig, Lime, LimeConfig, LimeKernel, Occlusion, OcclusionConfig, Rise, RiseConfig,
    ShapleySamplingConfig, ShapleyValueSampling, SlicColor, SlicConfig, Surrogate,
};

fn linear(classes: usize, features: usize, seed: u64) -> (LinearModel, Array2<f32>) {
    let w = array(&[classes, features], 1.0, seed)
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let b = Array1::from_vec(common::randn(&[classes], 1.0, seed + 1));
    (LinearModel::new(w.clone(), b).unwrap(), w)
}

/// x ⊙ W[t] (with x − b if a baseline is given), per sample.
fn x_times_w(
    x: &ArrayD<f32>,
    base: Option<&ArrayD<f32>>,
    w: &Array2<f32>,
    t: &[usize],
) -> ArrayD<f32> {
    let mut out = x.clone();
    let f = w.ncols();
    for (i, mut row) in out.outer_iter_mut().enumerate() {
        for (e, v) in row.iter_mut().enumerate() {
            let b = base
                .map(|b| b.as_slice().unwrap()[i * f + e])
                .unwrap_or(0.0);
            *v = (*v - b) * w[[t[i], e]];
        }
    }
    out
}

fn max_abs_diff(a: ArrayViewD<'_, f32>, b: ArrayViewD<'_, f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A model over [N, ...] with one output from a per-sample closure.
fn scalar_model<F>(f: F) -> impl Model
where
    F: Fn(&[f32]) -> f32 + Send + Sync,
{
    FnModel::new(2, move |x: ArrayViewD<'_, f32>| {
        let n = x.shape()[0];
        let xs = x.as_standard_layout();
        let flat = xs.as_slice().unwrap();
        let per = flat.len() / n;
        Ok(Array2::from_shape_fn((n, 2), |(i, c)| {
            let v = f(&flat[i * per..(i + 1) * per]);
            if c == 0 {
                v
            } else {
                -v
            }
        }))
    })
}

/// Brute-force Shapley values of M groups of one sample.
fn brute_shapley(
    f: &dyn Fn(&[f32]) -> f32,
    x: &[f32],
    b: &[f32],
    groups: &[usize],
    m: usize,
) -> Vec<f64> {
    let value = |set: usize| -> f64 {
        let z: Vec<f32> = (0..x.len())
            .map(|e| {
                if (set >> groups[e]) & 1 == 1 {
                    x[e]
                } else {
                    b[e]
                }
            })
            .collect();
        f(&z) as f64
    };
    let fact = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
    let mut phi = vec![0f64; m];
    for (j, p) in phi.iter_mut().enumerate() {
        for set in 0..(1usize << m) {
            if (set >> j) & 1 == 1 {
                continue;
            }
            let s = set.count_ones() as usize;
            let wgt = fact(s) * fact(m - s - 1) / fact(m);
            *p += wgt * (value(set | (1 << j)) - value(set));
        }
    }
    phi
}

// ---------------------------------------------------------------- Occlusion

#[test]
fn occlusion_1x1_zero_baseline_on_linear_model_is_x_times_w() {
    let (m, w) = linear(3, 36, 1);
    let x = array(&[2, 1, 6, 6], 1.0, 2);
    let t = [0, 2];
    let occ = Occlusion::with_config(m, OcclusionConfig::square(1, 1));
    let a = occ.explain(x.view(), &t, Seeds::base(0)).unwrap();
    let expect = x_times_w(&x, None, &w, &t);
    assert!(max_abs_diff(a.view(), expect.view()) < 1e-4);
    assert_eq!(occ.model_evaluations(&[1, 6, 6]).unwrap(), 37);
}

#[test]
fn occlusion_window_averages_over_covering_windows() {
    let m = LinearModel::new(
        ndarray::array![[1.0f32, 2.0, 3.0, 4.0]],
        ndarray::array![0.0f32],
    )
    .unwrap();
    let x = ndarray::array![[1.0f32, 1.0, 1.0, 1.0]].into_dyn();
    let cfg = OcclusionConfig {
        window: vec![2],
        strides: vec![1],
        ..Default::default()
    };
    let a = Occlusion::with_config(&m, cfg)
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap();
    // Windows {0,1}, {1,2}, {2,3} remove 3, 5, 7.
    assert_eq!(
        a.view().iter().copied().collect::<Vec<_>>(),
        vec![3.0, 4.0, 6.0, 7.0]
    );
    // Window 1, stride 2: elements 1 and 3 are never occluded → 0 (Captum: NaN).
    let cfg = OcclusionConfig {
        window: vec![1],
        strides: vec![2],
        ..Default::default()
    };
    let a = Occlusion::with_config(&m, cfg)
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap();
    assert_eq!(
        a.view().iter().copied().collect::<Vec<_>>(),
        vec![1.0, 0.0, 3.0, 0.0]
    );
}

#[test]
fn occlusion_per_channel_window_and_constant_baseline() {
    let (m, w) = linear(1, 2 * 3 * 3, 5);
    let x = array(&[1, 2, 3, 3], 1.0, 6);
    let cfg = OcclusionConfig {
        window: vec![1, 3, 3],
        strides: vec![1, 3, 3],
        baseline: Baseline::Constant(0.5),
        ..Default::default()
    };
    let a = Occlusion::with_config(m, cfg)
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap();
    // Two windows (one per channel): each element gets its channel's Σ (x − 0.5) w.
    let xs = x.as_slice().unwrap();
    for c in 0..2 {
        let s: f32 = (0..9)
            .map(|e| (xs[c * 9 + e] - 0.5) * w[[0, c * 9 + e]])
            .sum();
        for e in 0..9 {
            assert!((a.view().as_slice().unwrap()[c * 9 + e] - s).abs() < 1e-4);
        }
    }
}

// ---------------------------------------------------------- Feature Ablation

#[test]
#[allow(clippy::needless_range_loop)]
fn feature_ablation_patches_per_channel_baseline_is_group_sum() {
    let (m, w) = linear(2, 2 * 4 * 4, 7);
    let x = array(&[2, 2, 4, 4], 1.0, 8);
    let baseline = Baseline::PerChannel(vec![0.5, -1.0]);
    let base = baseline.generate(x.view(), Seeds::base(0)).unwrap();
    let cfg = FeatureAblationConfig {
        feature_mask: FeatureMask::Patches { size: 2 },
        baseline,
        ..Default::default()
    };
    let fa = FeatureAblation::with_config(m, cfg);
    let t = [1, 0];
    let a = fa.explain(x.view(), &t, Seeds::base(0)).unwrap();
    let contrib = x_times_w(&x, Some(&base), &w, &t);
    let groups = FeatureMask::Patches { size: 2 }.groups(x.view()).unwrap();
    for i in 0..2 {
        let ids = groups[i].ids();
        let c = contrib.index_axis(Axis(0), i);
        let cs = c.as_standard_layout();
        let cf = cs.as_slice().unwrap();
        let mut sums = vec![0f32; groups[i].count()];
        for (e, g) in ids.iter().enumerate() {
            sums[*g] += cf[e];
        }
        let ai = a
            .view()
            .index_axis(Axis(0), i)
            .iter()
            .copied()
            .collect::<Vec<_>>();
        for (e, g) in ids.iter().enumerate() {
            assert!((ai[e] - sums[*g]).abs() < 1e-4, "sample {i} element {e}");
        }
    }
    assert_eq!(fa.model_evaluations(x.view()).unwrap(), vec![5, 5]);
}

// --------------------------------------------------- Shapley Value Sampling

#[test]
fn shapley_sampling_recovers_additive_contributions_exactly() {
    // f(x) = Σ_j (j + 1) sin(x_j) + x_j²: additive, non-linear.
    let g = |j: usize, v: f32| (j as f32 + 1.0) * v.sin() + v * v;
    let model = scalar_model(move |x| x.iter().enumerate().map(|(j, &v)| g(j, v)).sum());
    let x = array(&[2, 1, 4, 4], 1.0, 9);
    let baseline = Baseline::Constant(0.3);
    let cfg = ShapleySamplingConfig {
        n_permutations: 3,
        feature_mask: FeatureMask::Patches { size: 2 },
        baseline,
        batch_size: BatchSize::fixed(5).unwrap(),
    };
    let a = ShapleyValueSampling::with_config(&model, cfg)
        .explain(x.view(), &[0, 1], Seeds::base(2))
        .unwrap();
    let groups = FeatureMask::Patches { size: 2 }.groups(x.view()).unwrap();
    let xs = x.as_slice().unwrap();
    for i in 0..2 {
        let sign = if i == 0 { 1.0 } else { -1.0 };
        let mut sums = [0f32; 4];
        for (e, gid) in groups[i].ids().iter().enumerate() {
            sums[*gid] += g(e, xs[i * 16 + e]) - g(e, 0.3);
        }
        let ai: Vec<f32> = a.view().index_axis(Axis(0), i).iter().copied().collect();
        for (e, gid) in groups[i].ids().iter().enumerate() {
            assert!((ai[e] - sign * sums[*gid]).abs() < 1e-4);
        }
    }
}

#[test]
fn shapley_sampling_is_efficient_on_interactions_and_converges() {
    let f = |x: &[f32]| x[0] * x[1] + (x[2] * x[3]).tanh() + x[0] * x[2] * x[3];
    let model = scalar_model(f);
    let x = ndarray::array![[1.0f32, 2.0, -1.0, 0.5]].into_dyn();
    let cfg = ShapleySamplingConfig {
        n_permutations: 400,
        ..Default::default()
    };
    let a = ShapleyValueSampling::with_config(&model, cfg)
        .explain(x.view(), &[0], Seeds::base(3))
        .unwrap();
    let v: Vec<f32> = a.view().iter().copied().collect();
    let delta = f(&[1.0, 2.0, -1.0, 0.5]) - f(&[0.0; 4]);
    assert!((v.iter().sum::<f32>() - delta).abs() < 1e-4, "efficiency");
    let exact = brute_shapley(&f, &[1.0, 2.0, -1.0, 0.5], &[0.0; 4], &[0, 1, 2, 3], 4);
    for (a, e) in v.iter().zip(&exact) {
        assert!((*a as f64 - e).abs() < 0.1, "{a} vs {e}");
    }
}

// ---------------------------------------------------------------- KernelSHAP

#[test]
fn kernel_shap_exact_enumeration_matches_brute_force_shapley() {
    // Additive and with interactions.
    let fs: Vec<Box<ScalarFn>> = vec![
        Box::new(|x: &[f32]| 2.0 * x[0] - x[1] + 0.5 * x[2].sin() + x[3] * x[3]),
        Box::new(|x: &[f32]| x[0] * x[1] + (x[2] * x[3]).tanh() + x[0] * x[2] * x[3] - x[1]),
    ];
    let x = ndarray::array![[1.0f32, 2.0, -1.0, 0.5], [0.3, -0.7, 1.5, 2.0]].into_dyn();
    let base = [0.2f32, -0.1, 0.4, 0.0];
    for f in fs {
        let f: std::sync::Arc<ScalarFn> = std::sync::Arc::from(f);
        let ff = f.clone();
        let model = scalar_model(move |x| ff(x));
        let cfg = KernelShapConfig {
            baseline: Baseline::Given(ndarray::arr1(&base).into_dyn()),
            ..Default::default()
        };
        let ks = KernelShap::with_config(&model, cfg);
        assert_eq!(ks.model_evaluations(x.view()).unwrap(), vec![16, 16]);
        let a = ks.explain(x.view(), &[0, 0], Seeds::base(0)).unwrap();
        for i in 0..2 {
            let xi: Vec<f32> = x.index_axis(Axis(0), i).iter().copied().collect();
            let exact = brute_shapley(&*f, &xi, &base, &[0, 1, 2, 3], 4);
            for (j, e) in exact.iter().enumerate() {
                let got = a.view()[[i, j]] as f64;
                assert!(
                    (got - e).abs() < 1e-3,
                    "sample {i} feature {j}: {got} vs {e}"
                );
            }
        }
    }
}

#[test]
fn kernel_shap_sampled_is_exact_on_linear_and_efficient_always() {
    // M = 8 groups, 2^8 − 2 = 254 > 60 samples: the sampled path.
    let (m, w) = linear(1, 8, 11);
    let x = array(&[2, 8], 1.0, 12);
    let cfg = KernelShapConfig {
        n_samples: 60,
        ..Default::default()
    };
    let ks = KernelShap::with_config(&m, cfg.clone());
    assert_eq!(ks.model_evaluations(x.view()).unwrap(), vec![62, 62]);
    let a = ks.explain(x.view(), &[0, 0], Seeds::base(5)).unwrap();
    assert!(max_abs_diff(a.view(), x_times_w(&x, None, &w, &[0, 0]).view()) < 1e-3);
    // Non-additive model: the attributions still sum to f(x) − f(0).
    let f = |x: &[f32]| x[0] * x[1] * x[2] + (x[3] + x[4]).tanh() * x[5] + x[6] * x[7];
    let model = scalar_model(f);
    let a = KernelShap::with_config(&model, cfg)
        .explain(x.view(), &[0, 0], Seeds::base(5))
        .unwrap();
    for i in 0..2 {
        let xi: Vec<f32> = x.index_axis(Axis(0), i).iter().copied().collect();
        let s: f32 = a.view().index_axis(Axis(0), i).sum();
        assert!((s - (f(&xi) - f(&[0.0; 8]))).abs() < 1e-4);
    }
    // With a budget of 200 of the 254 coalitions (sizes 1–2 and 6–7
    // enumerated, the rest sampled), within 10 % of the largest exact Shapley value.
    let cfg = KernelShapConfig {
        n_samples: 200,
        ..Default::default()
    };
    let a = KernelShap::with_config(&model, cfg)
        .explain(x.view(), &[0, 0], Seeds::base(6))
        .unwrap();
    let ids: Vec<usize> = (0..8).collect();
    for i in 0..2 {
        let xi: Vec<f32> = x.index_axis(Axis(0), i).iter().copied().collect();
        let exact = brute_shapley(&f, &xi, &[0.0; 8], &ids, 8);
        let err = exact
            .iter()
            .enumerate()
            .map(|(j, e)| (a.view()[[i, j]] as f64 - e).abs())
            .fold(0.0, f64::max);
        let scale = exact.iter().fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(
            err < 0.1 * scale,
            "sample {i}: max error {err} (max |φ| {scale})"
        );
    }
}

// ---------------------------------------------------------------------- LIME

#[test]
fn lime_ols_on_linear_model_recovers_group_sums() {
    let (m, w) = linear(2, 36, 13);
    let x = array(&[2, 1, 6, 6], 1.0, 14);
    let t = [0, 1];
    let cfg = LimeConfig {
        n_samples: 50,
        feature_mask: FeatureMask::Patches { size: 3 },
        surrogate: Surrogate::LinearRegression,
        batch_size: BatchSize::fixed(7).unwrap(),
        ..Default::default()
    };
    let a = Lime::with_config(&m, cfg)
        .explain(x.view(), &t, Seeds::base(1))
        .unwrap();
    let contrib = x_times_w(&x, None, &w, &t);
    let groups = FeatureMask::Patches { size: 3 }.groups(x.view()).unwrap();
    let cs = contrib.as_slice().unwrap();
    for i in 0..2 {
        let mut sums = [0f32; 4];
        for (e, g) in groups[i].ids().iter().enumerate() {
            sums[*g] += cs[i * 36 + e];
        }
        for (e, g) in groups[i].ids().iter().enumerate() {
            let got = a.view().as_slice().unwrap()[i * 36 + e];
            assert!((got - sums[*g]).abs() < 1e-3, "{got} vs {}", sums[*g]);
        }
    }
}

#[test]
fn lime_lasso_shrinks_and_ridge_lies_between() {
    let (m, _) = linear(1, 36, 15);
    let x = array(&[1, 1, 6, 6], 1.0, 16);
    let run = |s: Surrogate| {
        let cfg = LimeConfig {
            n_samples: 64,
            feature_mask: FeatureMask::Patches { size: 3 },
            surrogate: s,
            kernel: LimeKernel::tabular(),
            ..Default::default()
        };
        let a = Lime::with_config(&m, cfg)
            .explain(x.view(), &[0], Seeds::base(2))
            .unwrap();
        a.view().iter().map(|v| v.abs()).sum::<f32>()
    };
    let ols = run(Surrogate::LinearRegression);
    let ridge = run(Surrogate::Ridge { lambda: 5.0 });
    let lasso = run(Surrogate::Lasso { lambda: 0.1 });
    let huge = run(Surrogate::Lasso { lambda: 1e6 });
    assert!(ridge < ols && lasso < ols, "{ridge} {lasso} {ols}");
    assert_eq!(huge, 0.0);
}

#[test]
fn lime_over_slic_is_constant_on_superpixels() {
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 3, 12, 12]), |d| {
        let (c, y, xx) = (d[1], d[2], d[3]);
        if (y < 6) ^ (xx < 6) {
            0.9 - 0.1 * c as f32
        } else {
            0.1 + 0.05 * c as f32
        }
    });
    let (m, _) = linear(1, 3 * 144, 17);
    let sc = SlicConfig::with_segments(4);
    let labels = slic(x.index_axis(Axis(0), 0), &sc).unwrap();
    let cfg = LimeConfig::decker2024(FeatureMask::Slic(sc), Surrogate::Lasso { lambda: 0.01 });
    let a = Lime::with_config(&m, cfg)
        .explain(x.view(), &[0], Seeds::base(3))
        .unwrap();
    let av = a.view();
    for c in 0..3 {
        for p in 0..144 {
            for q in 0..144 {
                if labels[[p / 12, p % 12]] == labels[[q / 12, q % 12]] {
                    assert_eq!(av[[0, c, p / 12, p % 12]], av[[0, 0, q / 12, q % 12]]);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------- RISE

#[test]
fn rise_puts_the_mass_where_the_model_looks() {
    // The model is the mean of the top-left 6 × 6 quadrant of 12 × 12 images.
    let model = FnModel::new(1, |x: ArrayViewD<'_, f32>| {
        let n = x.shape()[0];
        Ok(Array2::from_shape_fn((n, 1), |(i, _)| {
            let mut s = 0.0;
            for r in 0..6 {
                for c in 0..6 {
                    s += x[[i, 0, r, c]];
                }
            }
            s / 36.0
        }))
    });
    let cfg = RiseConfig {
        n_masks: 1000,
        grid: 4,
        ..Default::default()
    };
    let x = ArrayD::<f32>::ones(IxDyn(&[1, 1, 12, 12]));
    let s = Rise::with_config(&model, cfg)
        .explain(x.view(), &[0], Seeds::base(4))
        .unwrap();
    let v = s.view();
    let (mut inside, mut outside) = (0f32, 0f32);
    let mut best = (f32::MIN, 0, 0);
    for r in 0..12 {
        for c in 0..12 {
            let val = v[[0, 0, r, c]];
            if r < 6 && c < 6 {
                inside += val / 36.0;
            } else if r >= 8 || c >= 8 {
                outside += val;
            }
            if val > best.0 {
                best = (val, r, c);
            }
        }
    }
    outside /= (144 - 64) as f32;
    assert!(best.1 < 6 && best.2 < 6, "arg-max {best:?}");
    assert!(inside > outside + 0.05, "inside {inside} outside {outside}");
}

#[test]
fn rise_of_a_constant_model_is_one_and_masks_keep_p() {
    let model = scalar_model(|_| 1.0);
    let cfg = RiseConfig {
        n_masks: 3000,
        grid: 3,
        p_keep: 0.3,
        ..Default::default()
    };
    let rise = Rise::with_config(&model, cfg);
    let x = ArrayD::<f32>::ones(IxDyn(&[1, 2, 9, 9]));
    let s = rise.explain(x.view(), &[0], Seeds::base(5)).unwrap();
    // S(p) = E[M(p)] / p_keep ≈ 1 everywhere, same on both channels.
    let mean = s.view().mean().unwrap();
    assert!((mean - 1.0).abs() < 0.05, "mean {mean}");
    let sv = s.view();
    assert_eq!(sv[[0, 0, 4, 4]], sv[[0, 1, 4, 4]]);
    let masks = rise.masks(7, 9, 9, 500).unwrap();
    let mm = masks.mean().unwrap();
    assert!((mm - 0.3).abs() < 0.03 && masks.iter().all(|v| (0.0..=1.0).contains(v)));
}

// ---------------------------------------------------------------------- SLIC

fn is_connected(labels: &Array2<usize>) -> bool {
    let (h, w) = labels.dim();
    let k = labels.iter().max().unwrap() + 1;
    for l in 0..k {
        let pix: Vec<(usize, usize)> = labels
            .indexed_iter()
            .filter(|(_, v)| **v == l)
            .map(|(p, _)| p)
            .collect();
        if pix.is_empty() {
            return false; // labels must be dense
        }
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![pix[0]];
        seen.insert(pix[0]);
        while let Some((y, x)) = stack.pop() {
            let mut nb = vec![];
            if y > 0 {
                nb.push((y - 1, x));
            }
            if y + 1 < h {
                nb.push((y + 1, x));
            }
            if x > 0 {
                nb.push((y, x - 1));
            }
            if x + 1 < w {
                nb.push((y, x + 1));
            }
            for q in nb {
                if labels[q] == l && seen.insert(q) {
                    stack.push(q);
                }
            }
        }
        if seen.len() != pix.len() {
            return false;
        }
    }
    true
}

#[test]
fn slic_two_colour_image_by_hand() {
    // 8 × 8 two-colour checkerboard of 4 × 4 blocks; the 4 seeds sit at
    // (2,2), (2,6), (6,2), (6,6) and colour breaks every spatial tie: the
    // superpixels are the four blocks.
    let img = ArrayD::from_shape_fn(IxDyn(&[1, 8, 8]), |d| {
        if (d[1] < 4) ^ (d[2] < 4) {
            1.0f32
        } else {
            0.0
        }
    });
    let labels = slic(img.view(), &SlicConfig::with_segments(4)).unwrap();
    let expect = Array2::from_shape_fn((8, 8), |(y, x)| (y / 4) * 2 + x / 4);
    assert_eq!(labels, expect);
    // Left half dark, right half bright: rows 4 is equidistant from the
    // seeds at y = 2 and y = 6 and goes to the first (as scikit-image), but
    // no superpixel crosses the colour edge.
    let img = ArrayD::from_shape_fn(IxDyn(&[1, 8, 8]), |d| if d[2] < 4 { 0.0f32 } else { 1.0 });
    let labels = slic(img.view(), &SlicConfig::with_segments(4)).unwrap();
    let expect = Array2::from_shape_fn((8, 8), |(y, x)| usize::from(y >= 5) * 2 + x / 4);
    assert_eq!(labels, expect);
    assert!(is_connected(&labels));
}

#[test]
fn slic_segments_are_connected_and_about_n_segments() {
    for (seed, n_seg, color) in [
        (1u64, 16usize, SlicColor::Auto),
        (2, 9, SlicColor::Raw),
        (3, 25, SlicColor::Auto),
    ] {
        // A noisy RGB image with smooth structure.
        let noise = common::randn(&[3, 20, 20], 0.2, seed);
        let img = ArrayD::from_shape_fn(IxDyn(&[3, 20, 20]), |d| {
            let (c, y, x) = (d[0], d[1], d[2]);
            ((y as f32 / 5.0).sin() * (c as f32 + 1.0) + (x as f32 / 7.0).cos())
                + noise[c * 400 + y * 20 + x]
        });
        let cfg = SlicConfig {
            color,
            ..SlicConfig::with_segments(n_seg)
        };
        let labels = slic(img.view(), &cfg).unwrap();
        assert!(is_connected(&labels), "seed {seed}");
        let k = labels.iter().max().unwrap() + 1;
        assert!(k * 3 >= n_seg && k <= n_seg * 3, "{k} segments for {n_seg}");
    }
}

// ------------------------------------------------------------ determinism

fn stochastic_panel<'a>(m: &'a LinearModel, batch_size: BatchSize) -> Vec<Box<dyn Explainer + 'a>> {
    vec![
        Box::new(Lime::with_config(
            m,
            LimeConfig {
                n_samples: 20,
                feature_mask: FeatureMask::Patches { size: 2 },
                batch_size,
                ..Default::default()
            },
        )),
        Box::new(KernelShap::with_config(
            m,
            KernelShapConfig {
                n_samples: 30,
                feature_mask: FeatureMask::Patches { size: 2 },
                batch_size,
                ..Default::default()
            },
        )),
        Box::new(ShapleyValueSampling::with_config(
            m,
            ShapleySamplingConfig {
                n_permutations: 3,
                feature_mask: FeatureMask::Patches { size: 3 },
                baseline: Baseline::RandomNormal,
                batch_size,
            },
        )),
        Box::new(Rise::with_config(
            m,
            RiseConfig {
                n_masks: 40,
                grid: 3,
                batch_size,
                ..Default::default()
            },
        )),
        Box::new(Occlusion::with_config(
            m,
            OcclusionConfig {
                batch_size,
                ..OcclusionConfig::square(2, 2)
            },
        )),
        Box::new(FeatureAblation::with_config(
            m,
            FeatureAblationConfig {
                feature_mask: FeatureMask::Patches { size: 2 },
                batch_size,
                ..Default::default()
            },
        )),
    ]
}

#[test]
fn chunk_size_and_batch_composition_do_not_change_the_output() {
    let (m, _) = linear(3, 36, 21);
    let x = array(&[3, 1, 6, 6], 1.0, 22);
    let t = [0, 2, 1];
    let seeds = [11u64, 12, 13];
    let reference: Vec<_> = stochastic_panel(&m, BatchSize::Auto)
        .iter()
        .map(|e| e.explain(x.view(), &t, Seeds::per_sample(&seeds)).unwrap())
        .collect();
    for bs in [1, 7, 1000] {
        for (e, r) in stochastic_panel(&m, BatchSize::fixed(bs).unwrap())
            .iter()
            .zip(&reference)
        {
            let a = e.explain(x.view(), &t, Seeds::per_sample(&seeds)).unwrap();
            assert_eq!(&a, r, "{} with batch size {bs}", e.name());
        }
    }
    // Sample 1 alone, with its own seed, gives the same map.
    let x1 = x.slice_axis(Axis(0), (1..2).into()).to_owned();
    for (e, r) in stochastic_panel(&m, BatchSize::fixed(4).unwrap())
        .iter()
        .zip(&reference)
    {
        let a = e
            .explain(x1.view(), &t[1..2], Seeds::per_sample(&seeds[1..2]))
            .unwrap();
        assert_eq!(
            a.view().index_axis(Axis(0), 0),
            r.view().index_axis(Axis(0), 1),
            "{}",
            e.name()
        );
    }
    // Other seeds give other maps for the stochastic methods.
    let other = [1u64, 2, 3];
    for (e, r) in stochastic_panel(&m, BatchSize::Auto)
        .iter()
        .zip(&reference)
        .take(4)
    {
        let a = e.explain(x.view(), &t, Seeds::per_sample(&other)).unwrap();
        assert_ne!(&a, r, "{}", e.name());
    }
}

// ---------------------------------------------------------------- errors

#[test]
fn bad_input_gives_typed_errors() {
    let (m, _) = linear(2, 36, 31);
    let x = array(&[1, 1, 6, 6], 1.0, 32);
    let ok = |e: &dyn Explainer| e.explain(x.view(), &[0], Seeds::base(0));
    let invalid = |r: salience_core::Result<salience_core::AttributionBatch>| {
        matches!(r, Err(SalienceError::InvalidParameter { .. }))
    };
    // Window larger than the image; zero stride; strides of the wrong rank.
    assert!(invalid(ok(&Occlusion::with_config(
        &m,
        OcclusionConfig::square(7, 1)
    ))));
    assert!(invalid(ok(&Occlusion::with_config(
        &m,
        OcclusionConfig::square(2, 0)
    ))));
    assert!(invalid(ok(&Occlusion::with_config(
        &m,
        OcclusionConfig {
            window: vec![2, 2],
            strides: vec![1],
            ..Default::default()
        }
    ))));
    // Masks of the wrong shape.
    let bad_mask = FeatureMask::Given(ndarray::Array2::<usize>::zeros((5, 6)).into_dyn());
    for e in [
        Box::new(FeatureAblation::with_config(
            &m,
            FeatureAblationConfig {
                feature_mask: bad_mask.clone(),
                ..Default::default()
            },
        )) as Box<dyn Explainer>,
        Box::new(Lime::with_config(
            &m,
            LimeConfig {
                feature_mask: bad_mask.clone(),
                ..Default::default()
            },
        )),
        Box::new(KernelShap::with_config(
            &m,
            KernelShapConfig {
                feature_mask: bad_mask.clone(),
                ..Default::default()
            },
        )),
        Box::new(ShapleyValueSampling::with_config(
            &m,
            ShapleySamplingConfig {
                feature_mask: bad_mask.clone(),
                ..Default::default()
            },
        )),
    ] {
        assert!(
            matches!(ok(&*e), Err(SalienceError::ShapeMismatch { .. })),
            "{}",
            e.name()
        );
    }
    // Patches and RISE need images.
    let tab = array(&[1, 36], 1.0, 33);
    let fa = FeatureAblation::with_config(
        &m,
        FeatureAblationConfig {
            feature_mask: FeatureMask::Patches { size: 2 },
            ..Default::default()
        },
    );
    assert!(matches!(
        fa.explain(tab.view(), &[0], Seeds::base(0)),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Rise::new(&m).explain(tab.view(), &[0], Seeds::base(0)),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    // Zero samples / permutations / masks.
    assert!(invalid(ok(&Lime::with_config(
        &m,
        LimeConfig {
            n_samples: 0,
            ..Default::default()
        }
    ))));
    assert!(invalid(ok(&KernelShap::with_config(
        &m,
        KernelShapConfig {
            n_samples: 0,
            ..Default::default()
        }
    ))));
    assert!(invalid(ok(&ShapleyValueSampling::with_config(
        &m,
        ShapleySamplingConfig {
            n_permutations: 0,
            ..Default::default()
        }
    ))));
    assert!(invalid(ok(&Rise::with_config(
        &m,
        RiseConfig {
            n_masks: 0,
            grid: 3,
            ..Default::default()
        }
    ))));
    // Budgets too large to hold (design matrix, evaluation count).
    let patches3 = FeatureMask::Patches { size: 3 };
    assert!(invalid(ok(&Lime::with_config(
        &m,
        LimeConfig {
            n_samples: usize::MAX,
            feature_mask: patches3.clone(),
            ..Default::default()
        }
    ))));
    assert!(invalid(ok(&KernelShap::with_config(
        &m,
        KernelShapConfig {
            n_samples: usize::MAX,
            ..Default::default()
        }
    ))));
    assert!(invalid(ok(&ShapleyValueSampling::with_config(
        &m,
        ShapleySamplingConfig {
            n_permutations: usize::MAX,
            ..Default::default()
        }
    ))));
    // p outside (0, 1), grid finer than the image, bad λ, bad kernel width.
    for p in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        assert!(
            invalid(ok(&Rise::with_config(
                &m,
                RiseConfig {
                    p_keep: p,
                    grid: 3,
                    n_masks: 4,
                    ..Default::default()
                }
            ))),
            "p = {p}"
        );
    }
    assert!(invalid(ok(&Rise::with_config(
        &m,
        RiseConfig {
            grid: 7,
            n_masks: 4,
            ..Default::default()
        }
    ))));
    let patches = FeatureMask::Patches { size: 3 };
    assert!(invalid(ok(&Lime::with_config(
        &m,
        LimeConfig {
            feature_mask: patches.clone(),
            surrogate: Surrogate::Lasso { lambda: -1.0 },
            ..Default::default()
        }
    ))));
    let kernel = LimeKernel {
        width: Some(0.0),
        ..Default::default()
    };
    assert!(invalid(ok(&Lime::with_config(
        &m,
        LimeConfig {
            feature_mask: patches.clone(),
            kernel,
            ..Default::default()
        }
    ))));
    // Too many interpretable features for a dense surrogate.
    let big = array(&[1, 1, 70, 70], 1.0, 34);
    let (mb, _) = linear(1, 4900, 35);
    assert!(matches!(
        Lime::new(&mb).explain(big.view(), &[0], Seeds::base(0)),
        Err(SalienceError::InvalidParameter { .. })
    ));
    // NaN input, target out of range, wrong target count, bad baseline.
    let mut nan = x.clone();
    nan[[0, 0, 2, 2]] = f32::NAN;
    for e in stochastic_panel(&m, BatchSize::Auto) {
        assert!(
            matches!(
                e.explain(nan.view(), &[0], Seeds::base(0)),
                Err(SalienceError::NonFinite { .. })
            ),
            "{}",
            e.name()
        );
        assert!(
            matches!(
                e.explain(x.view(), &[2], Seeds::base(0)),
                Err(SalienceError::TargetOutOfRange { .. })
            ),
            "{}",
            e.name()
        );
        assert!(
            matches!(
                e.explain(x.view(), &[0, 1], Seeds::base(0)),
                Err(SalienceError::TargetCount { .. })
            ),
            "{}",
            e.name()
        );
    }
    let pc = FeatureAblation::with_config(
        &m,
        FeatureAblationConfig {
            baseline: Baseline::PerChannel(vec![0.0, 1.0]),
            ..Default::default()
        },
    );
    assert!(matches!(ok(&pc), Err(SalienceError::ShapeMismatch { .. })));
    // SLIC parameters.
    let img = array(&[1, 6, 6], 1.0, 36);
    assert!(slic(img.view(), &SlicConfig::with_segments(0)).is_err());
    assert!(slic(
        img.view(),
        &SlicConfig {
            compactness: -1.0,
            ..Default::default()
        }
    )
    .is_err());
    assert!(slic(array(&[6], 1.0, 37).view(), &SlicConfig::default()).is_err());
}

#[test]
fn efficiency_deltas_are_reported_per_group() {
    // A non-additive model over 1 × 6 × 6 images, 4 patches of 3 × 3.
    let model =
        scalar_model(|x| x[0] * x[20] + (x[7] + x[35]).tanh() * x[14] + x.iter().sum::<f32>());
    let x = array(&[2, 1, 6, 6], 1.0, 41);
    let patches = FeatureMask::Patches { size: 3 };
    let ks = KernelShap::with_config(
        &model,
        KernelShapConfig {
            feature_mask: patches.clone(),
            baseline: Baseline::Constant(0.2),
            ..Default::default()
        },
    );
    let sv = ShapleyValueSampling::with_config(
        &model,
        ShapleySamplingConfig {
            n_permutations: 2,
            feature_mask: patches,
            baseline: Baseline::Constant(0.2),
            batch_size: BatchSize::fixed(3).unwrap(),
        },
    );
    let xs = x.as_slice().unwrap();
    let f = |v: &[f32]| v[0] * v[20] + (v[7] + v[35]).tanh() * v[14] + v.iter().sum::<f32>();
    for out in [
        ks.explain_with_delta(x.view(), &[0, 1], Seeds::base(1))
            .unwrap(),
        sv.explain_with_delta(x.view(), &[0, 1], Seeds::base(1))
            .unwrap(),
    ] {
        for i in 0..2 {
            let sign = if i == 0 { 1.0 } else { -1.0 };
            let diff = sign * (f(&xs[i * 36..(i + 1) * 36]) - f(&[0.2; 36]));
            assert!((out.output_difference[i] - diff).abs() < 1e-4);
            assert!(out.delta[i].abs() < 1e-4, "delta {}", out.delta[i]);
            // The elements carry their group's value 9 times over.
            let elem_sum: f32 = out.attributions.view().index_axis(Axis(0), i).sum();
            assert!((elem_sum - 9.0 * diff).abs() < 1e-3);
        }
    }
}

#[test]
fn huge_blur_kernels_are_errors_not_capacity_overflows() {
    let x = array(&[1, 1, 4, 4], 1.0, 1);
    for k in [usize::MAX, usize::MAX - 1, 4097] {
        assert!(matches!(
            gaussian_blur(x.view(), 1.0, k),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
    assert!(gaussian_blur(x.view(), 1.0, 4095).is_ok());
}

// ------------------------------------------------------------ memory budget

/// Issue 26: the chunk of every perturbation method follows the memory
/// budget — a budget too small for one perturbed input is a typed error
/// before the model is called, and `Auto` under a budget of three points
/// sends chunks of at most three (1 MiB floor + 4 × 36 × 4 bytes per point
/// for a model without an estimate) with the same maps as a fixed chunk.
#[test]
fn perturbation_chunks_follow_the_memory_budget() {
    use salience_core::batch::with_memory_budget;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (lin, _) = linear(3, 36, 31);
    let calls = AtomicUsize::new(0);
    let widest = AtomicUsize::new(0);
    let m = FnModel::new(3, |x: ArrayViewD<'_, f32>| {
        calls.fetch_add(1, Ordering::SeqCst);
        widest.fetch_max(x.shape()[0], Ordering::SeqCst);
        lin.forward(x)
    });
    let x = array(&[2, 1, 6, 6], 1.0, 32);
    let t = [0, 2];
    let per_point = (1u64 << 20) + 4 * 36 * 4;
    let occ = |batch_size| {
        Occlusion::with_config(
            &m,
            OcclusionConfig {
                batch_size,
                ..OcclusionConfig::square(2, 2)
            },
        )
    };
    for bs in [BatchSize::Auto, BatchSize::fixed(2).unwrap()] {
        let r = with_memory_budget(per_point - 1, || {
            occ(bs).explain(x.view(), &t, Seeds::base(0))
        });
        assert!(
            matches!(r, Err(SalienceError::MemoryBudget { .. })),
            "{r:?}"
        );
    }
    let r = with_memory_budget(3 * per_point, || {
        occ(BatchSize::fixed(4).unwrap()).explain(x.view(), &t, Seeds::base(0))
    });
    assert!(
        matches!(r, Err(SalienceError::MemoryBudget { chunk: 4, .. })),
        "{r:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let auto = with_memory_budget(3 * per_point, || {
        occ(BatchSize::Auto).explain(x.view(), &t, Seeds::base(0))
    })
    .unwrap();
    assert!(calls.load(Ordering::SeqCst) > 0);
    assert_eq!(widest.load(Ordering::SeqCst), 3);
    let fixed = occ(BatchSize::fixed(16).unwrap())
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap();
    assert_eq!(auto, fixed);
}

/// Issue 20: a batch size is `"auto"` or a positive integer in every
/// perturbation config (spec text `batch_size=auto` / `batch_size=16`); 0
/// is rejected when the config is read.
#[test]
fn perturbation_configs_read_auto_and_reject_zero() {
    use salience_core::spec::config_from;
    let kv = |v: &str| vec![("batch_size".to_string(), v.to_string())];
    let c = config_from("occlusion", &OcclusionConfig::square(2, 2), &kv("auto")).unwrap();
    assert_eq!(c.batch_size, BatchSize::Auto);
    let c = config_from("rise", &RiseConfig::default(), &kv("16")).unwrap();
    assert_eq!(c.batch_size, BatchSize::fixed(16).unwrap());
    let c = config_from("lime", &LimeConfig::default(), &kv("auto")).unwrap();
    assert_eq!(c, LimeConfig::default());
    for e in [
        config_from("kernel_shap", &KernelShapConfig::default(), &kv("0")).map(|_| ()),
        config_from(
            "feature_ablation",
            &FeatureAblationConfig::default(),
            &kv("0"),
        )
        .map(|_| ()),
        config_from("shapley", &ShapleySamplingConfig::default(), &kv("-2")).map(|_| ()),
    ] {
        match e {
            Err(SalienceError::InvalidParameter { name, .. }) => assert_eq!(name, "batch_size"),
            other => panic!("{other:?}"),
        }
    }
}
