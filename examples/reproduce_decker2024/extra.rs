//! What the three parts added for issue 23 share (`--part thm43`,
//! `--part faith_target`, `--part stability`): the images and a sub-panel
//! of one architecture, an explainer that memoizes its maps per exact input
//! (so the fitting Grams of a sweep over m reuse the explanations of the
//! perturbed inputs already drawn), and the softmax of a model.

use crate::main_tables::{
    abs_max, arch_panel, first_image, not_applicable, pick_images, registry, representation,
};
use crate::{Arch, Result, RUN_SEED};
use candle_core::Device;
use ndarray::{Array2, Array4, ArrayD, ArrayViewD, Axis, IxDyn};
use salience::core::Ensemble;
use salience::core::{AttributionBatch, ChannelReduction, Model, PixelMaps};
use salience::explain::registry::ExplainerSpec;
use salience::explain::rules::RuleForward;
use salience::explain::{CandleModel, LayerSplit};
use salience::metrics::Representation;
use salience::models::assets;
use salience::optimize::explain_panel;
use salience::report::Shard;
use salience::{Explainer, SalienceError, Seeds};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One architecture's model, images and (sub-)panel.
pub struct Setup {
    /// Table names of the panel's methods (those of the request that apply).
    pub names: Vec<&'static str>,
    /// Their registry specs.
    pub specs: Vec<String>,
    /// The panel (channel-summed pixel maps).
    pub panel: Vec<PixelMaps<Box<dyn Explainer>>>,
    /// The model (logits).
    pub model: Box<dyn Model>,
    /// The RRS representation (input of the classifier head).
    pub repr: Box<dyn Representation>,
    /// (index in the shipped sample, class) of the explained images.
    pub chosen: Vec<(usize, usize)>,
    /// The images, `[n, 1, 28, 28]`.
    pub x_all: Array4<f32>,
}

impl Setup {
    /// Image `i` as `[1, 1, 28, 28]`.
    pub fn image(&self, i: usize) -> ArrayD<f32> {
        self.x_all
            .slice_axis(Axis(0), (i..i + 1).into())
            .to_owned()
            .into_dyn()
    }

    /// Image `i` with its class, its seed and the panel's abs-max maps of
    /// it (the start of every part's per-image loop).
    pub fn explained(&self, i: usize) -> Result<Explained> {
        let x = self.image(i);
        let targets = [self.chosen[i].1];
        let seeds = [Shard::sample_seed(RUN_SEED, i)];
        let phi = explain_panel(
            &self.panel,
            x.view(),
            &targets,
            &abs_max(),
            Seeds::per_sample(&seeds),
        )?;
        Ok(Explained {
            x,
            targets,
            seeds,
            phi,
        })
    }

    /// One line naming the model and the panel (record headers).
    pub fn describe(&self, arch: Arch) -> String {
        format!("model={}; panel: {}", arch.name(), self.specs.join(" | "))
    }
}

/// One image of a part's loop (see [`Setup::explained`]).
pub struct Explained {
    /// The image, `[1, 1, 28, 28]`.
    pub x: ArrayD<f32>,
    /// Its explained class.
    pub targets: [usize; 1],
    /// Its seed, `Shard::sample_seed(RUN_SEED, i)`.
    pub seeds: [u64; 1],
    /// The panel's abs-max normalised maps of it.
    pub phi: Ensemble,
}

/// The first `n_images` images of the main tables' shuffle and the panel
/// of `methods` (table names) that apply to `arch`'s model.
pub fn setup(arch: Arch, methods: &[&str], n_images: usize) -> Result<Setup> {
    let dev = Device::Cpu;
    match arch {
        Arch::Cnn => setup_model(arch, Arc::new(assets::small_cnn(&dev)?), methods, n_images),
        Arch::Vit => setup_model(
            arch,
            Arc::new(assets::vit_fashion(&dev)?),
            methods,
            n_images,
        ),
    }
}

fn setup_model<M: LayerSplit + RuleForward + Send + Sync + 'static>(
    arch: Arch,
    net: Arc<M>,
    methods: &[&str],
    n_images: usize,
) -> Result<Setup> {
    let plain = CandleModel::new(net.clone());
    let (chosen, x_all) = pick_images(&plain, n_images)?;
    let first = first_image(&x_all)?;
    let mut names = Vec::new();
    let mut specs = Vec::new();
    for (name, spec) in arch_panel(arch) {
        if methods.contains(&name) && not_applicable(net.as_ref(), &first, name)?.is_none() {
            names.push(name);
            specs.push(spec);
        }
    }
    let parsed: Vec<ExplainerSpec> = specs
        .iter()
        .map(|s| s.parse())
        .collect::<std::result::Result<_, _>>()?;
    let panel = registry::<M>()
        .build_panel(&parsed, &net)?
        .into_iter()
        .map(|e| PixelMaps::new(e, ChannelReduction::Sum))
        .collect();
    let repr = representation(net.clone(), arch);
    Ok(Setup {
        names,
        specs,
        panel,
        model: Box::new(plain),
        repr: Box::new(repr),
        chosen,
        x_all,
    })
}

/// Exact identity of one input: its seed and the bits of its values.
type Key = (u64, Vec<u32>);

/// An explainer whose maps are memoized per (seed, exact input): asked
/// again for an input it has explained, it returns the stored map. Used
/// for the sweep over m (Theorem 4.3): the Gram of the first m draws is
/// computed from the maps of the largest draw, so every m sees the same
/// explanations (bit for bit) and the panel runs once per perturbed input.
pub struct Memo<'a> {
    inner: &'a dyn Explainer,
    maps: Mutex<HashMap<Key, Vec<f32>>>,
    dims: Mutex<Option<Vec<usize>>>,
}

impl<'a> Memo<'a> {
    /// An empty memo over `inner`.
    pub fn new(inner: &'a dyn Explainer) -> Self {
        Memo {
            inner,
            maps: Mutex::new(HashMap::new()),
            dims: Mutex::new(None),
        }
    }

    /// How many inputs were explained (distinct keys).
    pub fn len(&self) -> usize {
        self.maps.lock().map_or(0, |m| m.len())
    }
}

fn lock<T>(m: &Mutex<T>) -> salience::core::Result<std::sync::MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| SalienceError::backend_msg("memo mutex poisoned"))
}

impl Explainer for Memo<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> salience::core::Result<AttributionBatch> {
        let n = inputs.shape().first().copied().unwrap_or(0);
        seeds.check_len(n)?;
        let keys: Vec<Key> = (0..n)
            .map(|i| {
                (
                    seeds.for_sample(i),
                    inputs
                        .index_axis(Axis(0), i)
                        .iter()
                        .map(|v| v.to_bits())
                        .collect(),
                )
            })
            .collect();
        let missing: Vec<usize> = {
            let map = lock(&self.maps)?;
            (0..n).filter(|&i| !map.contains_key(&keys[i])).collect()
        };
        if !missing.is_empty() {
            let xm = inputs.select(Axis(0), &missing);
            let tm: Vec<usize> = missing
                .iter()
                .map(|&i| targets.get(i).copied().unwrap_or(0))
                .collect();
            let sm: Vec<u64> = missing.iter().map(|&i| seeds.for_sample(i)).collect();
            let b = self.inner.explain(xm.view(), &tm, Seeds::per_sample(&sm))?;
            *lock(&self.dims)? = Some(b.shape()[1..].to_vec());
            let flat = b.as_flat();
            let mut map = lock(&self.maps)?;
            for (j, &i) in missing.iter().enumerate() {
                map.insert(keys[i].clone(), flat.row(j).to_vec());
            }
        }
        let dims = lock(&self.dims)?
            .clone()
            .ok_or_else(|| SalienceError::backend_msg("memo: no map dimensions yet"))?;
        let mut shape = vec![n];
        shape.extend_from_slice(&dims);
        let map = lock(&self.maps)?;
        let mut data = Vec::with_capacity(n * dims.iter().product::<usize>());
        for k in &keys {
            let row = map
                .get(k)
                .ok_or_else(|| SalienceError::backend_msg("memo miss"))?;
            data.extend_from_slice(row);
        }
        let arr = ArrayD::from_shape_vec(IxDyn(&shape), data)
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        AttributionBatch::new(arr)
    }
}

/// The softmax probabilities of a model's outputs (the infidelity target
/// "probability of the target class" instead of its logit).
pub struct Softmax<M>(pub M);

impl<M: Model> Model for Softmax<M> {
    fn forward(&self, inputs: ArrayViewD<'_, f32>) -> salience::core::Result<Array2<f32>> {
        let mut z = self.0.forward(inputs)?;
        for mut row in z.outer_iter_mut() {
            let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
            row.mapv_inplace(|v| (f64::from(v - max).exp() / sum) as f32);
        }
        Ok(z)
    }

    fn num_classes(&self) -> usize {
        self.0.num_classes()
    }

    fn preferred_batch_size(&self) -> usize {
        self.0.preferred_batch_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);
    impl Explainer for Count {
        fn name(&self) -> &str {
            "count"
        }
        fn explain(
            &self,
            x: ArrayViewD<'_, f32>,
            _: &[usize],
            s: Seeds<'_>,
        ) -> salience::core::Result<AttributionBatch> {
            self.0.fetch_add(x.shape()[0], Ordering::Relaxed);
            let n = x.shape()[0];
            let mut out = x.to_owned();
            for i in 0..n {
                let k = s.for_sample(i) as f32;
                out.index_axis_mut(Axis(0), i).mapv_inplace(|v| v + k);
            }
            AttributionBatch::new(out)
        }
    }

    #[test]
    fn memo_explains_each_input_once_and_returns_the_same_maps() {
        let inner = Count(AtomicUsize::new(0));
        let memo = Memo::new(&inner);
        let x = array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn();
        let a = memo
            .explain(x.view(), &[0, 0], Seeds::per_sample(&[10, 20]))
            .unwrap();
        assert_eq!(a.as_flat(), array![[11.0, 12.0], [23.0, 24.0]]);
        // The second row again (alone), then both: no new explanation.
        let row = x.slice_axis(Axis(0), (1..2).into());
        let b = memo
            .explain(row.view(), &[0], Seeds::per_sample(&[20]))
            .unwrap();
        assert_eq!(b.as_flat(), array![[23.0, 24.0]]);
        memo.explain(x.view(), &[0, 0], Seeds::per_sample(&[10, 20]))
            .unwrap();
        assert_eq!(inner.0.load(Ordering::Relaxed), 2);
        // Another seed is another input.
        memo.explain(row.view(), &[0], Seeds::per_sample(&[21]))
            .unwrap();
        assert_eq!((inner.0.load(Ordering::Relaxed), memo.len()), (3, 3));
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_the_order() {
        let m = salience::core::LinearModel::new(
            array![[1.0f32, 0.0], [0.0, 1.0], [0.0, 0.0]],
            array![0.0f32, 0.0, 0.0],
        )
        .unwrap();
        let p = Softmax(&m)
            .forward(array![[2.0f32, 1.0]].into_dyn().view())
            .unwrap();
        let s: f32 = p.iter().sum();
        assert!((s - 1.0).abs() < 1e-6);
        let e = [2f64.exp(), 1f64.exp(), 1.0];
        let z: f64 = e.iter().sum();
        for (got, want) in p.iter().zip(e) {
            assert!((f64::from(*got) - want / z).abs() < 1e-6);
        }
    }
}
