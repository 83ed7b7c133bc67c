//! Small models built from a `VarBuilder`, for the weight-map / NoiseGrad tests.
#![allow(dead_code)]

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::VarBuilder;
use rand_distr::{Distribution, StandardNormal};
use salience_explain::{Classifier, LayerSplit, WeightMapModel};
use std::collections::HashMap;

pub fn randn(shape: &[usize], scale: f32, seed: u64) -> Tensor {
    let mut g = salience_core::seed::rng(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut g);
            z * scale
        })
        .collect();
    Tensor::from_vec(v, shape.to_vec(), &Device::Cpu).unwrap()
}

pub fn to_vec(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// conv3x3(2→3, "conv") → batch-norm ("bn") → relu → global mean pool →
/// linear(3→4, "fc"), for x of shape [N, 2, 4, 4].
pub struct Net {
    conv: candle_nn::Conv2d,
    bn: candle_nn::BatchNorm,
    fc: candle_nn::Linear,
}

impl Net {
    pub fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        let cfg = candle_nn::Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        Ok(Net {
            conv: candle_nn::conv2d(2, 3, 3, cfg, vb.pp("conv"))?,
            bn: candle_nn::batch_norm(3, 1e-5, vb.pp("bn"))?,
            fc: candle_nn::linear(3, 4, vb.pp("fc"))?,
        })
    }
}

impl Classifier for Net {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let a = self.activations(x, "features")?;
        self.head(&a, "features")
    }
    fn num_classes(&self) -> usize {
        4
    }
    fn device(&self) -> &Device {
        &Device::Cpu
    }
}

impl LayerSplit for Net {
    fn layer_names(&self) -> Vec<String> {
        vec!["features".into()]
    }
    fn activations(&self, x: &Tensor, _layer: &str) -> candle_core::Result<Tensor> {
        self.bn.forward_t(&self.conv.forward(x)?, false)?.relu()
    }
    fn head(&self, a: &Tensor, _layer: &str) -> candle_core::Result<Tensor> {
        self.fc.forward(&a.mean(3)?.mean(2)?)
    }
}

pub fn net_weights() -> HashMap<String, Tensor> {
    HashMap::from([
        ("conv.weight".to_string(), randn(&[3, 2, 3, 3], 0.5, 1)),
        ("conv.bias".to_string(), randn(&[3], 0.1, 2)),
        (
            "bn.weight".to_string(),
            (randn(&[3], 0.1, 3) + 1.0).unwrap(),
        ),
        ("bn.bias".to_string(), randn(&[3], 0.1, 4)),
        ("bn.running_mean".to_string(), randn(&[3], 0.1, 5)),
        (
            "bn.running_var".to_string(),
            (randn(&[3], 0.1, 6).abs().unwrap() + 1.0).unwrap(),
        ),
        ("fc.weight".to_string(), randn(&[4, 3], 1.0, 7)),
        ("fc.bias".to_string(), randn(&[4], 0.1, 8)),
    ])
}

pub fn net() -> WeightMapModel<Net> {
    WeightMapModel::new(net_weights(), &Device::Cpu, Net::new).unwrap()
}

/// f(x) = W vec(x) + b, built from a VarBuilder ("fc.weight", "fc.bias").
pub struct Lin {
    fc: candle_nn::Linear,
    k: usize,
}

impl Lin {
    pub fn builder(
        d: usize,
        k: usize,
    ) -> impl Fn(VarBuilder) -> candle_core::Result<Lin> + Send + Sync + 'static {
        move |vb: VarBuilder| {
            Ok(Lin {
                fc: candle_nn::linear(d, k, vb.pp("fc"))?,
                k,
            })
        }
    }
}

impl Classifier for Lin {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.fc.forward(&x.flatten_from(1)?)
    }
    fn num_classes(&self) -> usize {
        self.k
    }
    fn device(&self) -> &Device {
        &Device::Cpu
    }
}

/// A linear model over `d` features and `k` classes with seeded weights.
pub fn lin(d: usize, k: usize, seed: u64) -> WeightMapModel<Lin> {
    let map = HashMap::from([
        ("fc.weight".to_string(), randn(&[k, d], 1.0, seed)),
        ("fc.bias".to_string(), randn(&[k], 0.5, seed + 1)),
    ]);
    WeightMapModel::new(map, &Device::Cpu, Lin::builder(d, k)).unwrap()
}

pub fn array(shape: &[usize], scale: f32, seed: u64) -> ndarray::ArrayD<f32> {
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), to_vec(&randn(shape, scale, seed)))
        .unwrap()
}
