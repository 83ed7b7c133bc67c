//! CAM explainers: Grad-CAM = CAM on a GAP + linear head, hand-checked
//! Grad-CAM++, EigenCAM against an independent eigen-solver, PolyCAM hand
//! cases, determinism, chunk-size invariance and typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use candle_core::{Device, Tensor};
use common::{array, cnn, tensor};
use ndarray::{ArrayD, Axis};
use salience_core::{BatchSize, Explainer, SalienceError, Seeds};
use salience_explain::ops::upsample_bilinear2d;
use salience_explain::{
    EigenCam, EigenCamConfig, GradCam, GradCamConfig, GradCamPlusPlus, LayerSplit, PolyCam,
    PolyCamConfig, PolyCamVariant, SequentialClassifier,
};

fn flat(a: &ArrayD<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{i}: {x} vs {y}");
    }
}

/// conv(2→4, 3×3, pad 1) → ReLU ("features", 6×6) → 2×2 mean pool
/// ("pool", 3×3) → global average pool → linear(4→3).
fn gap_model() -> (SequentialClassifier, Vec<f32>) {
    let conv = candle_nn::Conv2d::new(
        tensor(&[4, 2, 3, 3], 0.5, 30),
        Some(tensor(&[4], 0.2, 31)),
        candle_nn::Conv2dConfig {
            padding: 1,
            ..Default::default()
        },
    );
    let w = tensor(&[3, 4], 1.0, 32);
    let wv = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let m = SequentialClassifier::new(3)
        .push("conv", conv)
        .push("features", |x: &Tensor| x.relu())
        .push("pool", |x: &Tensor| {
            let (n, c, h, w) = x.dims4()?;
            x.reshape((n, c, h / 2, 2, w / 2, 2))?.mean(5)?.mean(3)
        })
        .push("gap", |x: &Tensor| x.mean(3)?.mean(2))
        .push("fc", candle_nn::Linear::new(w, Some(tensor(&[3], 1.0, 33))));
    (m, wv)
}

/// CAM (Zhou et al. 2016): Σ_k W[c, k] A_k at `layer`, `[N, h, w]` flat,
/// and the layer's (h, w).
fn zhou_cam(
    m: &SequentialClassifier,
    w: &[f32],
    x: &ArrayD<f32>,
    t: &[usize],
    layer: &str,
) -> (Vec<f32>, (usize, usize)) {
    let xt = Tensor::from_slice(x.as_slice().unwrap(), x.shape(), &Device::Cpu).unwrap();
    let a = m.activations(&xt, layer).unwrap();
    let (n, k, h, ww) = a.dims4().unwrap();
    let av = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let hw = h * ww;
    let mut out = vec![0f32; n * hw];
    for i in 0..n {
        for c in 0..k {
            let wk = w[t[i] * k + c];
            for p in 0..hw {
                out[i * hw + p] += wk * av[(i * k + c) * hw + p];
            }
        }
    }
    (out, (h, ww))
}

#[test]
fn grad_cam_on_gap_linear_head_is_cam() {
    let (m, w) = gap_model();
    let x = array(&[3, 2, 6, 6], 1.0, 34);
    let t = [0, 2, 1];
    // At "features" (6×6, the input size): Grad-CAM weights are
    // W[c, k] / (h·w), so Grad-CAM (no ReLU) · 36 = CAM exactly.
    let (cam, _) = zhou_cam(&m, &w, &x, &t, "features");
    let gc = GradCam::with_config(&m, GradCamConfig::captum("features"))
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap();
    assert_eq!(gc.shape(), &[3, 6, 6]);
    let scaled: Vec<f32> = flat(&gc.view().to_owned())
        .iter()
        .map(|v| v * 36.0)
        .collect();
    close(&scaled, &cam, 1e-5);
    // With the ReLU: ReLU(CAM) / 36.
    let gc = GradCam::new(&m, "features")
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap();
    let relu: Vec<f32> = cam.iter().map(|v| v.max(0.0) / 36.0).collect();
    close(&flat(&gc.view().to_owned()), &relu, 1e-5);
    assert!(relu.contains(&0.0) && relu.iter().any(|&v| v > 0.0));
    // At "pool" (3×3): weights W[c, k] / 9 and the CAM is upsampled 3 → 6.
    let (cam, (h, ww)) = zhou_cam(&m, &w, &x, &t, "pool");
    assert_eq!((h, ww), (3, 3));
    let cam_t = Tensor::from_vec(cam, (3, 1, 3, 3), &Device::Cpu).unwrap();
    let up = upsample_bilinear2d(&cam_t, 6, 6, false).unwrap();
    let up: Vec<f32> = up.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let gc = GradCam::with_config(&m, GradCamConfig::captum("pool"))
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap();
    let scaled: Vec<f32> = flat(&gc.view().to_owned())
        .iter()
        .map(|v| v * 9.0)
        .collect();
    close(&scaled, &up, 1e-5);
}

#[test]
fn grad_cam_plus_plus_hand_case() {
    // Layer "id" = the input [1, 2, 1, 2]; logit_c = W[c] · vec(A).
    let w = Tensor::new(
        &[[1.0f32, -2.0, 0.5, 0.0], [1.0, 1.0, 1.0, 1.0]],
        &Device::Cpu,
    )
    .unwrap();
    let m = SequentialClassifier::new(2)
        .push("id", |x: &Tensor| Ok(x.clone()))
        .push("flatten", |x: &Tensor| x.flatten_from(1))
        .push("fc", candle_nn::Linear::new(w, None));
    let x = ndarray::Array4::from_shape_vec((1, 2, 1, 2), vec![1.0f32, 2.0, -1.0, 3.0])
        .unwrap()
        .into_dyn();
    // Channel 0: A = [1, 2], ΣA = 3, g = [1, −2]:
    //   α = [1 / (2 + 3), 4 / (8 − 24)] = [0.2, −0.25], w₀ = 0.2·1 + 0 = 0.2.
    // Channel 1: A = [−1, 3], ΣA = 2, g = [0.5, 0]:
    //   α = [0.25 / (0.5 + 0.25), 0] = [1/3, 0], w₁ = 1/6.
    // Map = 0.2·[1, 2] + (1/6)·[−1, 3] = [1/30, 0.9].
    let a = GradCamPlusPlus::new(&m, "id")
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap();
    close(&flat(&a.view().to_owned()), &[1.0 / 30.0, 0.9], 1e-6);
    // Grad-CAM on the same case: w = [−0.5, 0.25]: map = [−0.75, −0.25] → ReLU 0.
    let g = GradCam::with_config(&m, GradCamConfig::captum("id"))
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap();
    close(&flat(&g.view().to_owned()), &[-0.75, -0.25], 1e-6);
}

/// Largest eigenpair of a symmetric matrix by cyclic Jacobi rotations (an
/// algorithm independent of the crate's power iteration).
fn jacobi_top(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-24 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let top = (0..n)
        .max_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]))
        .unwrap();
    (0..n).map(|k| v[k * n + top]).collect()
}

/// EigenCAM by an independent route: X [hw, K] (centred), v = top
/// eigenvector of XᵀX by Jacobi, p = X v, sign ⟨p, X 1⟩ ≥ 0, ReLU.
fn eigen_reference(acts: &[f32], k: usize, hw: usize, center: bool) -> Vec<f32> {
    let mut x = vec![0f64; hw * k];
    for c in 0..k {
        let ch = &acts[c * hw..(c + 1) * hw];
        let mean = if center {
            ch.iter().map(|&v| v as f64).sum::<f64>() / hw as f64
        } else {
            0.0
        };
        for i in 0..hw {
            x[i * k + c] = ch[i] as f64 - mean;
        }
    }
    let mut g = vec![0f64; k * k];
    for a in 0..k {
        for b in 0..k {
            g[a * k + b] = (0..hw).map(|i| x[i * k + a] * x[i * k + b]).sum();
        }
    }
    let v = jacobi_top(g, k);
    let mut p: Vec<f64> = (0..hw)
        .map(|i| (0..k).map(|c| x[i * k + c] * v[c]).sum())
        .collect();
    let corr: f64 = (0..hw)
        .map(|i| p[i] * (0..k).map(|c| x[i * k + c]).sum::<f64>())
        .sum();
    if corr < 0.0 {
        p.iter_mut().for_each(|q| *q = -*q);
    }
    p.iter().map(|&q| q.max(0.0) as f32).collect()
}

fn identity_split(k: usize, hw: usize) -> SequentialClassifier {
    SequentialClassifier::new(2)
        .push("id", |x: &Tensor| Ok(x.clone()))
        .push("flatten", |x: &Tensor| x.flatten_from(1))
        .push(
            "fc",
            candle_nn::Linear::new(tensor(&[2, k * hw], 1.0, 40), None),
        )
}

#[test]
fn eigen_cam_matches_independent_computation() {
    // hw > K (Xᵀ X path) and hw < K (X Xᵀ path), centred and not.
    for (k, h, w) in [(4usize, 3usize, 3usize), (12, 2, 2)] {
        let m = identity_split(k, h * w);
        let x = array(&[3, k, h, w], 1.0, 41 + k as u64).mapv(|v| v + 0.5);
        for center in [true, false] {
            let cfg = EigenCamConfig {
                center,
                ..EigenCamConfig::new("id")
            };
            let a = EigenCam::with_config(&m, cfg)
                .explain(x.view(), &[0, 1, 0], Seeds::base(0))
                .unwrap();
            assert_eq!(a.shape(), &[3, h, w]);
            for i in 0..3 {
                let s: Vec<f32> = x.index_axis(Axis(0), i).iter().copied().collect();
                let want = eigen_reference(&s, k, h * w, center);
                let got: Vec<f32> = a.view().index_axis(Axis(0), i).iter().copied().collect();
                close(&got, &want, 1e-4);
                assert!(want.iter().any(|&v| v > 0.0));
            }
        }
    }
}

#[test]
fn eigen_cam_rank_one_hand_case() {
    // A₁ = 2·A₀: centred X = [−1.5, −0.5, 0.5, 1.5] ⊗ (1, 2), v = (1, 2)/√5,
    // p = √5·[−1.5, −0.5, 0.5, 1.5], ReLU → [0, 0, 0.5√5, 1.5√5].
    let m = identity_split(2, 4);
    let x = ndarray::Array4::from_shape_vec(
        (1, 2, 2, 2),
        vec![1.0f32, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0],
    )
    .unwrap()
    .into_dyn();
    let a = EigenCam::new(&m, "id")
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap();
    let s5 = 5f32.sqrt();
    close(
        &flat(&a.view().to_owned()),
        &[0.0, 0.0, 0.5 * s5, 1.5 * s5],
        1e-5,
    );
}

#[test]
fn poly_cam_channel_weights_hand_case() {
    // x = [0, 1] (1 × 1 × 2); layer "dup" = (x, 1 − x): masks m₀ = [0, 1],
    // m₁ = [1, 0]. logit₀ = ln 3 · A₀[1], logit₁ = 0, so s = σ(ln 3 · x′₁):
    // s(x) = ¾, s(x⊙m₀) = ¾, s(x⊙m₁) = ½, s(x⊙(1−m₀)) = ½, s(x⊙(1−m₁)) = ¾.
    let w = Tensor::new(&[[0.0f32, 3f32.ln(), 0.0, 0.0], [0.0; 4]], &Device::Cpu).unwrap();
    let m = SequentialClassifier::new(2)
        .push("dup", |x: &Tensor| Tensor::cat(&[x, &(1.0 - x)?], 1))
        .push("flatten", |x: &Tensor| x.flatten_from(1))
        .push("fc", candle_nn::Linear::new(w, None));
    let x = ndarray::Array4::from_shape_vec((1, 1, 1, 2), vec![0.0f32, 1.0])
        .unwrap()
        .into_dyn();
    for (variant, want) in [
        (PolyCamVariant::Plus, [0.75, 0.5]),
        (PolyCamVariant::Minus, [0.25, 0.0]),
        (PolyCamVariant::PlusMinus, [1.0, 0.5]),
    ] {
        let cfg = PolyCamConfig {
            variant,
            ..PolyCamConfig::new(&["dup"])
        };
        let got = PolyCam::with_config(&m, cfg)
            .channel_weights(x.view(), &[0], "dup")
            .unwrap();
        assert_eq!(got.len(), 2);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{variant:?}: {got:?}");
        }
    }
}

#[test]
fn poly_cam_single_layer_hand_case() {
    // One channel: the map is N(ReLU(w·A)) = N(A) for w > 0 (N is scale
    // invariant): A = [0, 1, 2, 4], q₀.₁ = 0.003, q₉₉.₉ = 3.994.
    let m = identity_split(1, 4);
    let x = ndarray::Array4::from_shape_vec((1, 1, 2, 2), vec![0.0f32, 1.0, 2.0, 4.0])
        .unwrap()
        .into_dyn();
    let cfg = PolyCamConfig {
        variant: PolyCamVariant::Plus,
        ..PolyCamConfig::new(&["id"])
    };
    let a = PolyCam::with_config(&m, cfg)
        .explain(x.view(), &[1], Seeds::base(0))
        .unwrap();
    close(
        &flat(&a.view().to_owned()),
        &[0.0, 0.997 / 3.994, 1.997 / 3.994, 1.0],
        1e-5,
    );
}

#[test]
fn poly_cam_multi_layer_sanity() {
    let m = cnn();
    let x = array(&[3, 2, 4, 4], 1.0, 50);
    let t = [0, 2, 1];
    let e = PolyCam::new(&m, &["tanh", "pool"]);
    let a = e.explain(x.view(), &t, Seeds::base(0)).unwrap();
    assert_eq!(a.shape(), &[3, 4, 4]);
    assert!(a.view().iter().all(|v| (0.0..=1.0).contains(v)));
    // Each map reaches (nearly) 1 unless it is all zero.
    for i in 0..3 {
        let mx = a
            .view()
            .index_axis(Axis(0), i)
            .iter()
            .fold(0f32, |m, &v| m.max(v));
        assert!(mx == 0.0 || mx > 0.9, "{mx}");
    }
    for bs in [1, 5, 7] {
        let b = PolyCam::with_config(
            &m,
            PolyCamConfig {
                batch_size: BatchSize::fixed(bs).unwrap(),
                ..PolyCamConfig::new(&["tanh", "pool"])
            },
        )
        .explain(x.view(), &t, Seeds::base(1))
        .unwrap();
        close(
            &flat(&a.view().to_owned()),
            &flat(&b.view().to_owned()),
            1e-6,
        );
    }
    // Per-input independence: explaining one input alone gives its map.
    let one = e
        .explain(
            x.slice(ndarray::s![1..2, .., .., ..]).into_dyn(),
            &t[1..2],
            Seeds::base(0),
        )
        .unwrap();
    let a1: Vec<f32> = a.view().index_axis(Axis(0), 1).iter().copied().collect();
    close(&flat(&one.view().to_owned()), &a1, 1e-6);
}

/// `cnn()` seen as a transformer: layer `l`'s `[N, K, h, w]` maps become
/// `[N, 1 + h·w, K]` tokens (a constant class token first, then the
/// row-major patches), and the head undoes it, so the logits are
/// unchanged.
struct AsTokens(SequentialClassifier);

impl AsTokens {
    /// `(h, w)` of `cnn()`'s layers on `[N, 2, 4, 4]` inputs.
    fn grid(layer: &str) -> (usize, usize) {
        if layer == "pool" {
            (2, 2)
        } else {
            (4, 4)
        }
    }
}

impl salience_explain::Classifier for AsTokens {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.0.logits(x)
    }
    fn num_classes(&self) -> usize {
        self.0.num_classes()
    }
    fn device(&self) -> &Device {
        self.0.device()
    }
}

impl LayerSplit for AsTokens {
    fn layer_names(&self) -> Vec<String> {
        vec!["tanh".into(), "pool".into()]
    }
    fn activations(&self, x: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
        let a = self.0.activations(x, layer)?;
        let (n, k, _, _) = a.dims4()?;
        let patches = a.flatten_from(2)?.transpose(1, 2)?;
        let cls = Tensor::full(7f32, (n, 1, k), a.device())?;
        Tensor::cat(&[&cls, &patches], 1)
    }
    fn head(&self, a: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
        let (h, w) = Self::grid(layer);
        let (n, _, k) = a.dims3()?;
        let maps = a
            .narrow(1, 1, h * w)?
            .transpose(1, 2)?
            .reshape((n, k, h, w))?;
        self.0.head(&maps, layer)
    }
    fn token_grid(&self, layer: &str) -> Option<salience_explain::TokenGrid> {
        let (rows, cols) = Self::grid(layer);
        Some(salience_explain::TokenGrid {
            prefix: 1,
            rows,
            cols,
        })
    }
}

#[test]
fn poly_cam_reads_token_layers_as_their_patch_grid() {
    // The same network with its layers as tokens gives the same maps and
    // channel weights: the class token is dropped, the patches laid out
    // as the grid (it failed with a ShapeMismatch on [N, T, D] tokens).
    let x = array(&[3, 2, 4, 4], 1.0, 50);
    let t = [0, 2, 1];
    let tok = AsTokens(cnn());
    let cfg_of = |variant| PolyCamConfig {
        variant,
        batch_size: BatchSize::fixed(2).unwrap(),
        ..PolyCamConfig::new(&["tanh", "pool"])
    };
    for variant in [
        PolyCamVariant::Plus,
        PolyCamVariant::Minus,
        PolyCamVariant::PlusMinus,
    ] {
        let cfg = cfg_of(variant);
        let want = PolyCam::with_config(cnn(), cfg.clone())
            .explain(x.view(), &t, Seeds::base(0))
            .unwrap();
        let e = PolyCam::with_config(&tok, cfg);
        let got = e.explain(x.view(), &t, Seeds::base(0)).unwrap();
        assert_eq!(got.shape(), &[3, 4, 4]);
        assert!(want.view().iter().any(|&v| v > 0.0), "{variant:?}");
        assert_eq!(
            flat(&got.view().to_owned()),
            flat(&want.view().to_owned()),
            "{variant:?}"
        );
        let w = e.channel_weights(x.view(), &t, "pool").unwrap();
        let w_cnn = PolyCam::with_config(cnn(), cfg_of(variant))
            .channel_weights(x.view(), &t, "pool")
            .unwrap();
        assert_eq!(w.len(), 3 * 4);
        assert_eq!(w, w_cnn, "{variant:?}");
    }
}

fn cam_with_batch(m: &SequentialClassifier, which: usize, bs: usize) -> Box<dyn Explainer + '_> {
    match which {
        0 => Box::new(GradCam::with_config(
            m,
            GradCamConfig {
                batch_size: BatchSize::fixed(bs).unwrap(),
                ..GradCamConfig::new("tanh")
            },
        )),
        1 => Box::new(GradCamPlusPlus::with_config(
            m,
            GradCamConfig {
                batch_size: BatchSize::fixed(bs).unwrap(),
                ..GradCamConfig::new("pool")
            },
        )),
        _ => Box::new(EigenCam::with_config(
            m,
            EigenCamConfig {
                batch_size: BatchSize::fixed(bs).unwrap(),
                ..EigenCamConfig::new("conv")
            },
        )),
    }
}

#[test]
fn cams_deterministic_and_chunk_size_invariant() {
    let m = cnn();
    let x = array(&[5, 2, 4, 4], 1.0, 60);
    let t = [0, 2, 1, 1, 0];
    for which in 0..3 {
        let b = |bs| cam_with_batch(&m, which, bs);
        let e64 = b(64);
        let a = e64.explain(x.view(), &t, Seeds::base(0)).unwrap();
        assert_eq!(a.shape(), &[5, 4, 4]);
        let again = e64.explain(x.view(), &t, Seeds::base(0)).unwrap();
        assert_eq!(a, again, "{}", e64.name());
        for bs in [1, 2, 3] {
            let c = b(bs).explain(x.view(), &t, Seeds::base(0)).unwrap();
            close(
                &flat(&a.view().to_owned()),
                &flat(&c.view().to_owned()),
                1e-6,
            );
        }
        assert!(a.view().iter().any(|&v| v > 0.0), "{}", e64.name());
    }
}

fn is_shape(e: &SalienceError) -> bool {
    matches!(e, SalienceError::ShapeMismatch { .. })
}

#[test]
fn cam_bad_input_gives_typed_errors() {
    let m = cnn();
    let x = array(&[2, 2, 4, 4], 1.0, 70);
    let cams: Vec<Box<dyn Explainer + '_>> = vec![
        Box::new(GradCam::new(&m, "tanh")),
        Box::new(GradCamPlusPlus::new(&m, "tanh")),
        Box::new(EigenCam::new(&m, "tanh")),
        Box::new(PolyCam::new(&m, &["tanh", "pool"])),
    ];
    for e in &cams {
        let name = e.name();
        // Wrong rank.
        let flat = array(&[2, 32], 1.0, 71);
        assert!(
            is_shape(&e.explain(flat.view(), &[0, 1], Seeds::base(0)).unwrap_err()),
            "{name}"
        );
        // Target out of range, wrong number of targets.
        assert!(
            e.explain(x.view(), &[0, 3], Seeds::base(0)).is_err(),
            "{name}"
        );
        assert!(e.explain(x.view(), &[0], Seeds::base(0)).is_err(), "{name}");
        // NaN input.
        let mut bad = x.clone();
        bad[[1, 0, 2, 2]] = f32::NAN;
        assert!(
            matches!(
                e.explain(bad.view(), &[0, 1], Seeds::base(0)).unwrap_err(),
                SalienceError::NonFinite { .. }
            ),
            "{name}"
        );
    }
    // Unknown layers.
    let unknown: Vec<Box<dyn Explainer + '_>> = vec![
        Box::new(GradCam::new(&m, "conv9")),
        Box::new(GradCamPlusPlus::new(&m, "conv9")),
        Box::new(EigenCam::new(&m, "conv9")),
        Box::new(PolyCam::new(&m, &["tanh", "conv9"])),
        Box::new(PolyCam::new(&m, &[])),
    ];
    for e in &unknown {
        assert!(
            matches!(
                e.explain(x.view(), &[0, 1], Seeds::base(0)).unwrap_err(),
                SalienceError::InvalidParameter { .. }
            ),
            "{}",
            e.name()
        );
    }
    // A layer whose output is not [N, K, h, w] ("flatten").
    assert!(is_shape(
        &GradCam::new(&m, "flatten")
            .explain(x.view(), &[0, 1], Seeds::base(0))
            .unwrap_err()
    ));
    // Zero batch size: cannot be built any more (issue 20, one
    // batch-size type), nor read from a spec.
    assert!(BatchSize::fixed(0).is_err());
    assert!("grad_cam:layer=tanh,batch_size=0"
        .parse::<salience_explain::registry::ExplainerSpec>()
        .and_then(|s| salience_explain::registry::Registry::with_builtins()
            .build(&s, &std::sync::Arc::new(cnn())))
        .is_err());
}
