//! The layer-split interface ([`LayerSplit`]) for CAM methods and
//! representation metrics, and [`SequentialClassifier`], a named-layer
//! sequential model that implements it.
//!
//! candle keeps gradients only for [`candle_core::Var`] leaves, so the
//! gradient of a logit with respect to an intermediate activation is
//! obtained by cutting the forward pass: `a = activations(x, layer)`,
//! detach `a`, wrap it in a `Var`, then `head(a, layer)`.

use crate::classifier::Classifier;
use candle_core::{Device, Module, Tensor};
use salience_core::{Result, SalienceError};

/// A classifier whose forward pass can be split at a named layer:
/// `logits(x) == head(activations(x, layer), layer)` for every name in
/// [`LayerSplit::layer_names`].
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::{Classifier, LayerSplit, SequentialClassifier};
/// let m = SequentialClassifier::new(2)
///     .push("double", |x: &Tensor| x * 2.0)
///     .push("fc", |x: &Tensor| Ok(x.clone()));
/// let x = Tensor::new(&[[1.0f32, 2.0]], &Device::Cpu).unwrap();
/// let a = m.activations(&x, "double").unwrap();
/// let y = m.head(&a, "double").unwrap();
/// assert_eq!(y.to_vec2::<f32>().unwrap(), m.logits(&x).unwrap().to_vec2::<f32>().unwrap());
/// ```
pub trait LayerSplit: Classifier {
    /// The names of the layers the model can be split at, in forward order.
    fn layer_names(&self) -> Vec<String>;

    /// The output of layer `layer` for input `x`.
    fn activations(&self, x: &Tensor, layer: &str) -> candle_core::Result<Tensor>;

    /// The logits computed from layer `layer`'s output `a`.
    fn head(&self, a: &Tensor, layer: &str) -> candle_core::Result<Tensor>;

    /// Checks that `layer` is one of [`LayerSplit::layer_names`], returning a
    /// typed error naming the known layers otherwise.
    ///
    /// ```
    /// use salience_explain::{LayerSplit, SequentialClassifier};
    /// let m = SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone()));
    /// assert!(m.check_layer("fc").is_ok());
    /// assert!(m.check_layer("conv9").is_err());
    /// ```
    fn check_layer(&self, layer: &str) -> Result<()> {
        let names = self.layer_names();
        if names.iter().any(|n| n == layer) {
            Ok(())
        } else {
            Err(SalienceError::invalid(
                "layer",
                layer,
                &format!("unknown layer; the model has {names:?}"),
            ))
        }
    }
}

type BoxedModule = Box<dyn Module + Send + Sync>;

/// A sequential model of named layers (any `candle_nn::Module`, including
/// closures such as `|x: &Tensor| x.relu()`), usable as a [`Classifier`]
/// and a [`LayerSplit`]. Unlike `candle_nn::Sequential`, it is `Send +
/// Sync`, as explainers require.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::{Classifier, SequentialClassifier};
/// let w = Tensor::new(&[[1.0f32, -1.0]], &Device::Cpu).unwrap();
/// let m = SequentialClassifier::new(1)
///     .push("flatten", |x: &Tensor| x.flatten_from(1))
///     .push("fc", candle_nn::Linear::new(w, None));
/// let x = Tensor::new(&[[[3.0f32, 1.0]]], &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![2.0]]);
/// ```
pub struct SequentialClassifier {
    layers: Vec<(String, BoxedModule)>,
    num_classes: usize,
    device: Device,
    batch_size: usize,
}

impl std::fmt::Debug for SequentialClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequentialClassifier")
            .field(
                "layers",
                &self.layers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("num_classes", &self.num_classes)
            .field("device", &self.device)
            .finish()
    }
}

impl SequentialClassifier {
    /// An empty model with `num_classes` outputs, on the CPU.
    pub fn new(num_classes: usize) -> Self {
        SequentialClassifier {
            layers: Vec::new(),
            num_classes,
            device: Device::Cpu,
            batch_size: 64,
        }
    }

    /// Appends layer `name`.
    pub fn push<M: Module + Send + Sync + 'static>(mut self, name: &str, layer: M) -> Self {
        self.layers.push((name.to_string(), Box::new(layer)));
        self
    }

    /// Sets the device the layers' weights live on.
    ///
    /// ```
    /// use salience_explain::{Classifier, SequentialClassifier};
    /// let m = SequentialClassifier::new(1).on_device(candle_core::Device::Cpu);
    /// assert!(m.device().is_cpu());
    /// ```
    pub fn on_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Sets the preferred batch size; 0 is an error
    /// ([`salience_core::SalienceError::InvalidParameter`]).
    ///
    /// ```
    /// use salience_explain::{Classifier, SequentialClassifier};
    /// assert_eq!(SequentialClassifier::new(1).with_batch_size(4)?.preferred_batch_size(), 4);
    /// assert!(SequentialClassifier::new(1).with_batch_size(0).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_batch_size(mut self, batch_size: usize) -> salience_core::Result<Self> {
        crate::gradient::check_batch_size(batch_size)?;
        self.batch_size = batch_size;
        Ok(self)
    }

    fn position(&self, layer: &str) -> candle_core::Result<usize> {
        self.layers
            .iter()
            .position(|(n, _)| n == layer)
            .ok_or_else(|| candle_core::Error::Msg(format!("unknown layer `{layer}`")))
    }
}

impl Classifier for SequentialClassifier {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for (_, l) in &self.layers {
            h = l.forward(&h)?;
        }
        Ok(h)
    }
    fn num_classes(&self) -> usize {
        self.num_classes
    }
    fn device(&self) -> &Device {
        &self.device
    }
    fn preferred_batch_size(&self) -> usize {
        self.batch_size
    }
}

impl LayerSplit for SequentialClassifier {
    fn layer_names(&self) -> Vec<String> {
        self.layers.iter().map(|(n, _)| n.clone()).collect()
    }

    fn activations(&self, x: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
        let end = self.position(layer)?;
        let mut h = x.clone();
        for (_, l) in &self.layers[..=end] {
            h = l.forward(&h)?;
        }
        Ok(h)
    }

    fn head(&self, a: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
        let start = self.position(layer)?;
        let mut h = a.clone();
        for (_, l) in &self.layers[start + 1..] {
            h = l.forward(&h)?;
        }
        Ok(h)
    }
}

macro_rules! forward_layer_split {
    ($($t:ty),*) => {$(
        impl<M: LayerSplit + ?Sized> LayerSplit for $t {
            fn layer_names(&self) -> Vec<String> {
                (**self).layer_names()
            }
            fn activations(&self, x: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
                (**self).activations(x, layer)
            }
            fn head(&self, a: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
                (**self).head(a, layer)
            }
        }
    )*};
}

// References and smart pointers to a split model are split models, so
// explainers can borrow or share one model (`GradCam::new(&m, …)`,
// `Arc<M>` in the registry).
forward_layer_split!(&M, Box<M>, std::sync::Arc<M>);
