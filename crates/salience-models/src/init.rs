//! Seeded weight initialisation (never candle's unseedable RNG).
//!
//! The rule, by the last component of a tensor's name:
//! * `weight` of rank ≥ 2 (convolution, linear): Kaiming normal,
//!   `N(0, 2 / fan_in)` with `fan_in` the product of all dimensions but
//!   the first (He et al. 2015; torchvision's ResNet uses the fan-out
//!   variant, which differs only in scale);
//! * `weight` of rank 1 (batch-norm scale) and `running_var`: 1;
//! * a transformer's `pos_embed` and `cls_token`: `N(0, 0.02²)` (timm's
//!   truncation at ±2 is not applied: at 100 standard deviations it never
//!   binds);
//! * anything else (`bias`, `running_mean`): 0.
//!
//! Tensor `k` of the list, in name order, draws from
//! `derive_seed(seed, k)`, so one tensor's values do not depend on the
//! others' sizes.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use rand_distr::{Distribution, StandardNormal};
use salience_core::seed::{derive_seed, rng};
use std::collections::HashMap;

/// The seeded initial values of tensor `name` with `shape` (see the module
/// docs for the rule).
///
/// ```
/// use salience_models::init::initial_values;
/// assert_eq!(initial_values("bn1.weight", &[3], 0), vec![1.0; 3]);
/// assert_eq!(initial_values("fc.bias", &[2], 0), vec![0.0; 2]);
/// assert_eq!(initial_values("conv1.weight", &[4, 2, 3, 3], 5).len(), 72);
/// assert_eq!(initial_values("x.weight", &[4, 2], 5), initial_values("x.weight", &[4, 2], 5));
/// ```
pub fn initial_values(name: &str, shape: &[usize], seed: u64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let leaf = name.rsplit('.').next().unwrap_or(name);
    let normal = |std: f64| {
        let mut g = rng(seed);
        (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut g);
                (std * z) as f32
            })
            .collect()
    };
    match (leaf, shape.len()) {
        ("weight", r) if r >= 2 => {
            let fan_in: usize = shape[1..].iter().product::<usize>().max(1);
            normal((2.0 / fan_in as f64).sqrt())
        }
        ("pos_embed", _) | ("cls_token", _) => normal(0.02),
        ("weight", _) | ("running_var", _) => vec![1.0; n],
        _ => vec![0.0; n],
    }
}

/// Seeded tensors for a list of `(name, shape)`, e.g. a model's
/// `tensor_shapes()`, ready for `VarBuilder::from_tensors`.
///
/// ```
/// use salience_models::init::seeded_tensors;
/// let shapes = vec![("fc.weight".to_string(), vec![2, 3]), ("fc.bias".to_string(), vec![2])];
/// let t = seeded_tensors(&shapes, 1, &candle_core::Device::Cpu).unwrap();
/// assert_eq!(t["fc.weight"].dims(), &[2, 3]);
/// ```
pub fn seeded_tensors(
    shapes: &[(String, Vec<usize>)],
    seed: u64,
    device: &Device,
) -> candle_core::Result<HashMap<String, Tensor>> {
    let mut names: Vec<&(String, Vec<usize>)> = shapes.iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    names
        .into_iter()
        .enumerate()
        .map(|(k, (name, shape))| {
            let v = initial_values(name, shape, derive_seed(seed, k as u64));
            Ok((name.clone(), Tensor::from_vec(v, shape.as_slice(), device)?))
        })
        .collect()
}

/// Overwrites every f32 variable of `varmap` with its seeded initial value
/// (for training from a reproducible start: `VarBuilder::from_varmap`
/// fills variables from candle's unseedable RNG).
///
/// ```
/// use candle_nn::{VarBuilder, VarMap};
/// let vm = VarMap::new();
/// let vb = VarBuilder::from_varmap(&vm, candle_core::DType::F32, &candle_core::Device::Cpu);
/// let _l = candle_nn::linear(3, 2, vb.pp("fc")).unwrap();
/// salience_models::init::reseed_varmap(&vm, 4).unwrap();
/// let a = vm.data().lock().unwrap()["fc.weight"].as_tensor().to_vec2::<f32>().unwrap();
/// salience_models::init::reseed_varmap(&vm, 4).unwrap();
/// let b = vm.data().lock().unwrap()["fc.weight"].as_tensor().to_vec2::<f32>().unwrap();
/// assert_eq!(a, b);
/// ```
pub fn reseed_varmap(varmap: &VarMap, seed: u64) -> candle_core::Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("the VarMap lock is poisoned".into()))?;
    let shapes: Vec<(String, Vec<usize>)> = data
        .iter()
        .filter(|(_, v)| v.dtype() == DType::F32)
        .map(|(k, v)| (k.clone(), v.dims().to_vec()))
        .collect();
    let values = seeded_tensors(&shapes, seed, &Device::Cpu)?;
    for (name, var) in data.iter() {
        if let Some(t) = values.get(name) {
            var.set(&t.to_device(var.device())?)?;
        }
    }
    Ok(())
}
