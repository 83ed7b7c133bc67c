//! Property tests of the perturbation explainers against naive reference
//! computations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array1, Array2, ArrayD, ArrayViewD, IxDyn};
use proptest::prelude::*;
use salience_core::{Explainer, FnModel, LinearModel, Seeds};
use salience_perturb::{
    FeatureAblation, FeatureAblationConfig, FeatureMask, KernelShap, KernelShapConfig, Occlusion,
    OcclusionConfig, ShapleySamplingConfig, ShapleyValueSampling,
};

/// f(x) = xᵀ A x + wᵀ x over [N, m] inputs (one class).
fn quadratic(a: Vec<f32>, w: Vec<f32>) -> impl salience_core::Model {
    let m = w.len();
    FnModel::new(1, move |x: ArrayViewD<'_, f32>| {
        let n = x.shape()[0];
        let xs = x.as_standard_layout();
        let v = xs.as_slice().unwrap();
        Ok(Array2::from_shape_fn((n, 1), |(i, _)| {
            eval_quadratic(&a, &w, &v[i * m..(i + 1) * m])
        }))
    })
}

fn eval_quadratic(a: &[f32], w: &[f32], x: &[f32]) -> f32 {
    let m = w.len();
    let mut s = 0.0;
    for j in 0..m {
        s += w[j] * x[j];
        for k in 0..m {
            s += a[j * m + k] * x[j] * x[k];
        }
    }
    s
}

fn brute_shapley(f: &dyn Fn(&[f32]) -> f32, x: &[f32]) -> Vec<f64> {
    let m = x.len();
    let value = |set: usize| -> f64 {
        let z: Vec<f32> = (0..m)
            .map(|e| if (set >> e) & 1 == 1 { x[e] } else { 0.0 })
            .collect();
        f(&z) as f64
    };
    let fact = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
    (0..m)
        .map(|j| {
            (0..(1usize << m))
                .filter(|set| (set >> j) & 1 == 0)
                .map(|set| {
                    let s = set.count_ones() as usize;
                    fact(s) * fact(m - s - 1) / fact(m) * (value(set | (1 << j)) - value(set))
                })
                .sum()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(24)))]

    /// Occlusion on a linear model equals a naive sliding-window loop.
    #[test]
    fn occlusion_matches_naive_windows(
        h in 2usize..7, w in 2usize..7, kh in 1usize..4, kw in 1usize..4,
        sh in 1usize..4, sw in 1usize..4, seed in 0u64..1000,
    ) {
        prop_assume!(kh <= h && kw <= w);
        let vals: Vec<f32> = (0..2 * h * w).map(|i| (((i as u64 + seed) * 7919 % 97) as f32 / 48.5) - 1.0).collect();
        let (xv, wv) = vals.split_at(h * w);
        let m = LinearModel::new(Array2::from_shape_vec((1, h * w), wv.to_vec()).unwrap(), Array1::zeros(1)).unwrap();
        let x = ArrayD::from_shape_vec(IxDyn(&[1, h, w]), xv.to_vec()).unwrap();
        let cfg = OcclusionConfig { window: vec![kh, kw], strides: vec![sh, sw], ..Default::default() };
        let a = Occlusion::with_config(&m, cfg).explain(x.view(), &[0], Seeds::base(0)).unwrap();
        let mut sum = vec![0f64; h * w];
        let mut cnt = vec![0u32; h * w];
        let mut y = 0;
        while y + kh <= h {
            let mut c = 0;
            while c + kw <= w {
                let d: f64 = (y..y + kh).flat_map(|r| (c..c + kw).map(move |q| r * w + q))
                    .map(|e| (xv[e] * wv[e]) as f64).sum();
                for r in y..y + kh { for q in c..c + kw { sum[r * w + q] += d; cnt[r * w + q] += 1; } }
                c += sw;
            }
            y += sh;
        }
        for (e, got) in a.view().iter().enumerate() {
            let expect = if cnt[e] == 0 { 0.0 } else { sum[e] / cnt[e] as f64 };
            prop_assert!((*got as f64 - expect).abs() < 1e-4, "element {}: {} vs {}", e, got, expect);
        }
    }

    /// KernelSHAP by exact enumeration equals brute-force Shapley values of
    /// quadratic models (interactions included), for 2 to 5 features.
    #[test]
    fn kernel_shap_exact_equals_brute_force(
        m in 2usize..6,
        coef in proptest::collection::vec(-1.0f32..1.0, 36),
        xs in proptest::collection::vec(-2.0f32..2.0, 5),
    ) {
        let a = coef[..m * m].to_vec();
        let w = coef[30..30 + m].to_vec();
        let model = quadratic(a.clone(), w.clone());
        let x = ArrayD::from_shape_vec(IxDyn(&[1, m]), xs[..m].to_vec()).unwrap();
        let cfg = KernelShapConfig { n_samples: 64, ..Default::default() };
        let got = KernelShap::with_config(&model, cfg).explain(x.view(), &[0], Seeds::base(1)).unwrap();
        let exact = brute_shapley(&|z: &[f32]| eval_quadratic(&a, &w, z), &xs[..m]);
        for (g, e) in got.view().iter().zip(&exact) {
            prop_assert!((*g as f64 - e).abs() < 1e-3 * (1.0 + e.abs()), "{} vs {}", g, e);
        }
    }

    /// Shapley Value Sampling is efficient (Σφ = f(x) − f(0)) for any model
    /// and any number of permutations.
    #[test]
    fn shapley_sampling_is_efficient(
        m in 1usize..6,
        coef in proptest::collection::vec(-1.0f32..1.0, 36),
        xs in proptest::collection::vec(-2.0f32..2.0, 5),
        n_perm in 1usize..5, seed in 0u64..1000,
    ) {
        let a = coef[..m * m].to_vec();
        let w = coef[30..30 + m].to_vec();
        let model = quadratic(a.clone(), w.clone());
        let x = ArrayD::from_shape_vec(IxDyn(&[1, m]), xs[..m].to_vec()).unwrap();
        let cfg = ShapleySamplingConfig { n_permutations: n_perm, ..Default::default() };
        let got = ShapleyValueSampling::with_config(&model, cfg).explain(x.view(), &[0], Seeds::base(seed)).unwrap();
        let delta = eval_quadratic(&a, &w, &xs[..m]) - eval_quadratic(&a, &w, &vec![0.0; m]);
        let s: f32 = got.view().sum();
        prop_assert!((s - delta).abs() < 1e-4 * (1.0 + delta.abs()), "{} vs {}", s, delta);
    }

    /// Feature Ablation with arbitrary group ids on a linear model gives
    /// every element its group's Σ x ⊙ W.
    #[test]
    fn feature_ablation_given_groups_on_linear_model(
        ids in proptest::collection::vec(0usize..5, 8),
        vals in proptest::collection::vec(-2.0f32..2.0, 16),
    ) {
        let (xv, wv) = vals.split_at(8);
        let m = LinearModel::new(Array2::from_shape_vec((1, 8), wv.to_vec()).unwrap(), Array1::zeros(1)).unwrap();
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 8]), xv.to_vec()).unwrap();
        let cfg = FeatureAblationConfig {
            feature_mask: FeatureMask::Given(ArrayD::from_shape_vec(IxDyn(&[8]), ids.clone()).unwrap()),
            ..Default::default()
        };
        let a = FeatureAblation::with_config(&m, cfg).explain(x.view(), &[0], Seeds::base(0)).unwrap();
        for (e, got) in a.view().iter().enumerate() {
            let expect: f32 = (0..8).filter(|&q| ids[q] == ids[e]).map(|q| xv[q] * wv[q]).sum();
            prop_assert!((got - expect).abs() < 1e-4);
        }
    }
}
