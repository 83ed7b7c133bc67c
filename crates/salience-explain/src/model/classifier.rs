//! The differentiable [`Classifier`] interface and [`ModuleClassifier`],
//! which makes any `candle_nn::Module` one.

use crate::gradient::gradient_check::{check_gradients, GradientCheckConfig};
use candle_core::{Device, Module, Tensor};
use std::sync::Arc;

/// A differentiable classifier on candle: a batch `[N, ...]` (images
/// `[N, C, H, W]`, tabular `[N, D]`) of f32 to logits `[N, classes]`.
///
/// Gradient explainers wrap the input in a [`candle_core::Var`] and call
/// [`Classifier::logits`], so the implementation must be built from
/// differentiable candle ops. candle 0.11 has two traps: `max_pool2d`'s
/// backward is wrong by a factor k² (and pool backward needs kernel ==
/// stride), and candle-nn's fused `layer_norm` / `rms_norm` /
/// `softmax_last_dim` detach their output. Use [`crate::ops::max_pool2d`],
/// [`crate::ops::layer_norm`], [`crate::ops::rms_norm`] and
/// [`crate::ops::softmax`] instead. A detached gradient is always an error
/// ([`salience_core::GradientFault::Detached`]); a wrong one is caught by
/// [`crate::gradient::gradient_check::check_gradients`] (or
/// [`ModuleClassifier::verified`]), which every model should pass once. It must be deterministic (eval mode: no dropout,
/// batch-norm in inference mode) and samples must not interact.
///
/// The method is called `logits`, not `forward`, so that a type can
/// implement both this trait and `candle_nn::Module` without ambiguity.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::Classifier;
/// struct Sum;
/// impl Classifier for Sum {
///     fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
///         x.flatten_from(1)?.sum_keepdim(1)
///     }
///     fn num_classes(&self) -> usize { 1 }
///     fn device(&self) -> &Device { &Device::Cpu }
/// }
/// let x = Tensor::new(&[[1.0f32, 2.0]], &Device::Cpu).unwrap();
/// assert_eq!(Sum.logits(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![3.0]]);
/// ```
pub trait Classifier: Send + Sync {
    /// Logits `[N, classes]` for a batch `[N, ...]`.
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor>;

    /// Number of classes (the width of the logits).
    fn num_classes(&self) -> usize;

    /// The device the model's weights live on; inputs are created there.
    fn device(&self) -> &Device;

    /// The batch size the model runs best at (the default internal chunk
    /// size of the black-box adapter, and the most points
    /// [`salience_core::BatchSize::Auto`] puts in one chunk).
    fn preferred_batch_size(&self) -> usize {
        64
    }

    /// The bytes of the intermediate tensors of one sample's forward pass
    /// on inputs of per-sample shape `sample_shape`, if the model can tell;
    /// [`salience_core::BatchSize::Auto`] sizes chunks from it (see
    /// [`salience_core::batch`]). `None` by default (a conservative multiple
    /// of the input size is assumed); models written as a
    /// [`crate::StagedForward`] measure it with a shape probe
    /// ([`crate::model::forward::activation_bytes`]).
    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        let _ = sample_shape;
        None
    }
}

/// `Classifier` for a pointer type (`&C`, `Box<C>`, `Arc<C>`) that
/// forwards every method, defaults included, to the pointee.
macro_rules! forward_classifier {
    ($($ptr:ty),+) => {$(
        impl<C: Classifier + ?Sized> Classifier for $ptr {
            fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
                (**self).logits(x)
            }
            fn num_classes(&self) -> usize {
                (**self).num_classes()
            }
            fn device(&self) -> &Device {
                (**self).device()
            }
            fn preferred_batch_size(&self) -> usize {
                (**self).preferred_batch_size()
            }
            fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
                (**self).activation_bytes(sample_shape)
            }
        }
    )+};
}

forward_classifier!(&C, Box<C>, Arc<C>);

/// `on_device` and `with_batch_size` for a model type with `device` and
/// `batch_size` fields; `$new` builds one in the doc examples (a
/// `salience_explain::` path is prepended).
macro_rules! builder_methods {
    ($new:literal) => {
        /// Sets the device the weights live on (the CPU by default).
        ///
        /// ```
        /// use salience_explain::Classifier;
        #[doc = concat!("let m = salience_explain::", $new, ".on_device(candle_core::Device::Cpu);")]
        /// assert!(m.device().is_cpu());
        /// ```
        pub fn on_device(mut self, device: Device) -> Self {
            self.device = device;
            self
        }

        /// Sets the preferred batch size (64 by default); 0 is an error
        /// ([`salience_core::SalienceError::InvalidParameter`]).
        ///
        /// ```
        /// use salience_explain::Classifier;
        #[doc = concat!("let m = salience_explain::", $new, ";")]
        /// assert_eq!(m.with_batch_size(8)?.preferred_batch_size(), 8);
        #[doc = concat!("assert!(salience_explain::", $new, ".with_batch_size(0).is_err());")]
        /// # Ok::<(), salience_core::SalienceError>(())
        /// ```
        pub fn with_batch_size(mut self, batch_size: usize) -> salience_core::Result<Self> {
            crate::gradient::check_batch_size(batch_size)?;
            self.batch_size = batch_size;
            Ok(self)
        }
    };
}
pub(crate) use builder_methods;

/// `num_classes`, `device` and `preferred_batch_size` of a model trait
/// ([`Classifier`] or [`crate::model::forward::StagedForward`]) from the fields
/// `num_classes`, `device` and `batch_size`.
macro_rules! model_getters {
    () => {
        fn num_classes(&self) -> usize {
            self.num_classes
        }
        fn device(&self) -> &Device {
            &self.device
        }
        fn preferred_batch_size(&self) -> usize {
            self.batch_size
        }
    };
}
pub(crate) use model_getters;

/// Any `candle_nn::Module` (a layer, a closure `Fn(&Tensor) -> Result<Tensor>`,
/// a user's network struct) as a [`Classifier`].
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::{Classifier, ModuleClassifier};
/// let w = Tensor::new(&[[1.0f32, 0.0], [0.0, 2.0]], &Device::Cpu).unwrap();
/// let clf = ModuleClassifier::new(candle_nn::Linear::new(w, None), 2);
/// let x = Tensor::new(&[[3.0f32, 4.0]], &Device::Cpu).unwrap();
/// assert_eq!(clf.logits(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![3.0, 8.0]]);
/// ```
///
/// A user's own 2-conv CNN, explained from candle tensors
/// ([`crate::ExplainTensor`]) or ndarray ([`salience_core::Explainer`]):
///
/// ```
/// use candle_core::{DType, Device, Module, Tensor};
/// use candle_nn::{conv2d, linear, Conv2d, Conv2dConfig, Linear, VarBuilder, VarMap};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::model::convert;
/// use salience_explain::{ops, ExplainTensor, IntegratedGradients, ModuleClassifier, Saliency};
///
/// struct Cnn { c1: Conv2d, c2: Conv2d, fc: Linear }
/// impl Module for Cnn {
///     fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
///         let h = ops::max_pool2d(&self.c1.forward(x)?.relu()?, 2, 2, 0)?; // not h.max_pool2d(2)
///         self.fc.forward(&self.c2.forward(&h)?.relu()?.mean((2, 3))?)
///     }
/// }
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let cfg = Conv2dConfig { padding: 1, ..Default::default() };
/// let (c1, c2) = (conv2d(1, 4, 3, cfg, vb.pp("c1"))?, conv2d(4, 8, 3, cfg, vb.pp("c2"))?);
/// let cnn = Cnn { c1, c2, fc: linear(8, 3, vb.pp("fc"))? };
/// # // candle's initializers cannot be seeded: fixed weights keep the doctest deterministic.
/// # for v in varmap.all_vars() {
/// #     let t = (Tensor::arange(0f32, v.elem_count() as f32, &Device::Cpu)? * 0.37)?.cos()?;
/// #     v.set(&(t.reshape(v.shape())? * 0.5)?)?;
/// # }
/// let x = (Tensor::arange(0f32, 128., &Device::Cpu)?.reshape((2, 1, 8, 8))? / 128.)?;
/// let xa = convert::array_from_tensor(&x)?;
/// // Once: are the input gradients right? (candle's own max_pool2d would fail here.)
/// let model = ModuleClassifier::new(cnn, 3).verified(xa.view(), &[0, 2])?;
/// // candle tensors in and out ...
/// let maps: Tensor = Saliency::new(&model).explain_tensor(&x, &[0, 2], Seeds::base(0))?;
/// assert_eq!(maps.dims(), &[2, 1, 8, 8]);
/// // ... or ndarray.
/// let ig = IntegratedGradients::new(&model).explain(xa.view(), &[0, 2], Seeds::base(0))?;
/// assert_eq!(ig.shape(), &[2, 1, 8, 8]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Exposing a layer for Grad-CAM: name the parts of the forward pass in a
/// [`crate::SequentialClassifier`] (for the rule-based methods too, write
/// it once as a [`crate::StagedForward`]):
///
/// ```
/// use candle_core::{DType, Device, Module, Tensor};
/// use candle_nn::{conv2d, linear, Conv2d, Conv2dConfig, Linear, VarBuilder, VarMap};
/// use salience_core::Seeds;
/// use salience_explain::{ExplainTensor, GradCam, SequentialClassifier};
/// use std::sync::Arc;
///
/// struct Cnn { c1: Conv2d, c2: Conv2d, fc: Linear }
/// impl Cnn {
///     fn features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
///         self.c2.forward(&self.c1.forward(x)?.relu()?)?.relu()
///     }
///     fn head(&self, a: &Tensor) -> candle_core::Result<Tensor> { self.fc.forward(&a.mean((2, 3))?) }
/// }
/// let vb = VarBuilder::from_varmap(&VarMap::new(), DType::F32, &Device::Cpu);
/// let cfg = Conv2dConfig { padding: 1, ..Default::default() };
/// let (c1, c2) = (conv2d(1, 4, 3, cfg, vb.pp("c1"))?, conv2d(4, 8, 3, cfg, vb.pp("c2"))?);
/// let cnn = Arc::new(Cnn { c1, c2, fc: linear(8, 3, vb.pp("fc"))? });
/// let (f, h) = (Arc::clone(&cnn), cnn);
/// let model = SequentialClassifier::new(3)
///     .push("features", move |x: &Tensor| f.features(x))
///     .push("head", move |a: &Tensor| h.head(a));
/// let x = (Tensor::arange(0f32, 128., &Device::Cpu)?.reshape((2, 1, 8, 8))? / 128.)?;
/// let cam = GradCam::new(&model, "features").explain_tensor(&x, &[0, 2], Seeds::base(0))?;
/// assert_eq!(cam.dims(), &[2, 8, 8]); // [N, H, W], upsampled to the input
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ModuleClassifier<M> {
    module: M,
    num_classes: usize,
    device: Device,
    batch_size: usize,
}

impl<M: Module + Send + Sync> ModuleClassifier<M> {
    /// Wraps `module`, which returns `num_classes` logits per input, on the
    /// CPU. Use [`ModuleClassifier::on_device`] for a GPU.
    pub fn new(module: M, num_classes: usize) -> Self {
        ModuleClassifier {
            module,
            num_classes,
            device: Device::Cpu,
            batch_size: 64,
        }
    }

    builder_methods!("ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 3)");

    /// Checks the module's input gradients on a few `probe` inputs (for
    /// their `targets`) with [`check_gradients`] at the default settings
    /// and returns the classifier only if they pass: a module built with
    /// candle's `max_pool2d` or a detaching candle-nn op is refused with an
    /// error that names the op and its replacement in [`crate::ops`].
    ///
    /// ```
    /// use candle_core::{Device, Tensor};
    /// use salience_explain::ModuleClassifier;
    /// let w = Tensor::new(&[[1.0f32, -1.0, 2.0, 0.5]], &Device::Cpu).unwrap();
    /// let probe = ndarray::Array4::from_shape_fn((1, 1, 4, 4), |(_, _, i, j)| (i * 4 + j) as f32 / 16.0).into_dyn();
    /// let w2 = w.clone();
    /// let good = ModuleClassifier::new(
    ///     move |x: &Tensor| salience_explain::ops::max_pool2d(x, 2, 2, 0)?.flatten_from(1)?.matmul(&w.t()?),
    ///     1,
    /// );
    /// assert!(good.verified(probe.view(), &[0]).is_ok());
    /// let bad = ModuleClassifier::new(move |x: &Tensor| x.max_pool2d(2)?.flatten_from(1)?.matmul(&w2.t()?), 1);
    /// assert!(bad.verified(probe.view(), &[0]).is_err());
    /// ```
    pub fn verified(
        self,
        probe: ndarray::ArrayViewD<'_, f32>,
        targets: &[usize],
    ) -> salience_core::Result<Self> {
        check_gradients(&self, probe, targets, &GradientCheckConfig::default())?.ensure()?;
        Ok(self)
    }

    /// The wrapped module.
    ///
    /// ```
    /// use salience_explain::ModuleClassifier;
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 3);
    /// let _m = clf.module();
    /// ```
    pub fn module(&self) -> &M {
        &self.module
    }
}

impl<M: Module + Send + Sync> Classifier for ModuleClassifier<M> {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.module.forward(x)
    }
    model_getters!();
}
