//! Conversions between ndarray and candle, and from candle errors.
//!
//! On the CPU, an owned standard-layout array becomes a tensor without a
//! copy ([`tensor_from_owned`]: the `Vec` is moved into candle's storage);
//! a borrowed view costs exactly one copy ([`tensor_from_view`]); a tensor
//! becomes an owned array with exactly one copy ([`array_from_tensor`]).

use candle_core::{DType, Device, Tensor};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use salience_core::{Result, SalienceError};

/// The context of a [`SalienceError::Backend`] made from a candle error.
const CANDLE: &str = "candle";

/// Converts a candle error into [`SalienceError::Backend`], keeping the
/// candle error whole as its [`source`](std::error::Error::source) (its
/// inner errors, context and any backtrace candle captured when
/// `RUST_BACKTRACE` is set); the `Display` shows its first line.
///
/// ```
/// use std::error::Error;
/// use salience_explain::model::convert::candle_error;
/// let e = candle_error(candle_core::Error::Msg("boom\ninner".into()));
/// assert_eq!(e.to_string(), "backend error: candle: boom");
/// let source = e.source().and_then(|s| s.downcast_ref::<candle_core::Error>());
/// assert_eq!(source.map(|c| c.to_string()).as_deref(), Some("boom\ninner"));
/// ```
pub fn candle_error(e: candle_core::Error) -> SalienceError {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("");
    // candle's pool backward only supports kernel == stride: say how out.
    if first.contains("backward not supported for maxpool2d")
        || first.contains("backward not supported for avgpool2d")
    {
        return SalienceError::backend(
            "candle 0.11's pool backward needs kernel == stride, and its max-pool \
             gradient is also k² too small; build the model's pooling with \
             salience_explain::ops::max_pool2d, which takes any kernel, stride and padding \
             with PyTorch's gradient: docs/candle-bugs.md",
            e,
        );
    }
    SalienceError::backend(CANDLE, e)
}

/// Like [`candle_error`], for an error of a model call on a batch of
/// `shape`: when the batch looks channel-last (`[N, H, W, C]` with C of 1,
/// 3 or 4 and H > 4), the message says so and how to fix it, since a
/// candle convolution reports it only as an `in_channel` mismatch.
///
/// ```
/// use salience_explain::model::convert::model_call_error;
/// let e = model_call_error(candle_core::Error::Msg("in_channel mismatch".into()), &[2, 32, 32, 3]);
/// assert!(e.to_string().contains("channel-last"));
/// assert!(e.to_string().contains("in_channel mismatch"));
/// ```
pub fn model_call_error(e: candle_core::Error, shape: &[usize]) -> SalienceError {
    let looks_nhwc = shape.len() == 4 && matches!(shape[3], 1 | 3 | 4) && shape[1] > 4;
    match candle_error(e) {
        SalienceError::Backend { context, source } if looks_nhwc => SalienceError::Backend {
            context: format!(
                "{context} (the input {shape:?} looks channel-last [N, H, W, C]; candle models \
                 take [N, C, H, W]: permute it, e.g. `x.permuted_axes([0, 3, 1, 2])` in ndarray \
                 or `x.permute((0, 3, 1, 2))` in candle)"
            ),
            source,
        },
        other => other,
    }
}

/// An owned array as a tensor on `device`. On the CPU a standard-layout
/// array is moved into the tensor without copying its data; other layouts
/// are made contiguous first.
///
/// ```
/// use candle_core::Device;
/// use salience_explain::model::convert::{array_from_tensor, tensor_from_owned};
/// let a = ndarray::Array::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f32).into_dyn();
/// let t = tensor_from_owned(a.clone(), &Device::Cpu)?;
/// assert_eq!(t.dims(), &[2, 3]);
/// assert_eq!(array_from_tensor(&t)?, a);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn tensor_from_owned(a: ArrayD<f32>, device: &Device) -> Result<Tensor> {
    let shape = a.shape().to_vec();
    let a = if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    };
    let (v, offset) = a.into_raw_vec_and_offset();
    let v = match offset {
        Some(0) | None => v,
        // A standard-layout owned array that does not start at its
        // allocation (e.g. after slicing): copy the live part once.
        Some(o) => v[o..o + shape.iter().product::<usize>()].to_vec(),
    };
    Tensor::from_vec(v, shape, device).map_err(candle_error)
}

/// A borrowed array as a tensor on `device` (one copy; two if the view is
/// not in standard layout).
///
/// ```
/// use candle_core::Device;
/// use salience_explain::model::convert::tensor_from_view;
/// let a = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn();
/// let t = tensor_from_view(a.t(), &Device::Cpu)?; // transposed view
/// assert_eq!(t.to_vec2::<f32>().unwrap(), vec![vec![1.0, 3.0], vec![2.0, 4.0]]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn tensor_from_view(a: ArrayViewD<'_, f32>, device: &Device) -> Result<Tensor> {
    let shape = a.shape().to_vec();
    match a.as_slice() {
        Some(s) => Tensor::from_slice(s, shape, device).map_err(candle_error),
        None => tensor_from_owned(a.as_standard_layout().into_owned(), device),
    }
}

/// A tensor (any device, any float dtype) as an owned f32 array, with one
/// copy (plus a conversion if the tensor is not f32).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::model::convert::array_from_tensor;
/// let t = Tensor::new(&[[1.0f32, 2.0]], &Device::Cpu).unwrap();
/// assert_eq!(array_from_tensor(&t)?.shape(), &[1, 2]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn array_from_tensor(t: &Tensor) -> Result<ArrayD<f32>> {
    let dims = t.dims().to_vec();
    let v = tensor_to_vec(t)?;
    ArrayD::from_shape_vec(IxDyn(&dims), v).map_err(|e| SalienceError::backend("ndarray", e))
}

/// A tensor's values, flattened row-major, as f32.
pub(crate) fn tensor_to_vec(t: &Tensor) -> Result<Vec<f32>> {
    let t = if t.dtype() == DType::F32 {
        t.clone()
    } else {
        t.to_dtype(DType::F32).map_err(candle_error)?
    };
    t.flatten_all()
        .and_then(|f| f.to_vec1::<f32>())
        .map_err(candle_error)
}

/// Any [`salience_core::Explainer`] on candle tensors: the input batch
/// `x` is converted to an array ([`array_from_tensor`], any float dtype),
/// explained, and the attribution (shape as the explainer returns it:
/// `[N, C, H, W]` for gradient methods, `[N, H, W]` for CAMs) comes back
/// as an f32 tensor on `x`'s device. Errors are the explainer's, or a
/// [`SalienceError::Backend`] from the conversions.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::Seeds;
/// use salience_explain::{ExplainTensor, ModuleClassifier, Saliency};
/// let w = Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu).unwrap();
/// let model = ModuleClassifier::new(candle_nn::Linear::new(w, None), 1);
/// let x = Tensor::new(&[[3.0f32, 4.0]], &Device::Cpu).unwrap();
/// let g = Saliency::new(&model).explain_tensor(&x, &[0], Seeds::base(0))?;
/// assert_eq!(g.to_vec2::<f32>().unwrap(), vec![vec![1.0, -2.0]]); // ∂y/∂x
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub trait ExplainTensor {
    /// The attributions of `x` (`[N, …]`) for `targets` (one per row) as a
    /// tensor on `x`'s device.
    fn explain_tensor(
        &self,
        x: &Tensor,
        targets: &[usize],
        seeds: salience_core::Seeds<'_>,
    ) -> Result<Tensor>;
}

impl<E: salience_core::Explainer + ?Sized> ExplainTensor for E {
    fn explain_tensor(
        &self,
        x: &Tensor,
        targets: &[usize],
        seeds: salience_core::Seeds<'_>,
    ) -> Result<Tensor> {
        let a = array_from_tensor(x)?;
        let out = self.explain(a.view(), targets, seeds)?;
        tensor_from_view(out.view(), x.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    /// The candle error inside `e`, if it is its source.
    fn candle_source(e: &SalienceError) -> Option<&candle_core::Error> {
        e.source()
            .and_then(|s| s.downcast_ref::<candle_core::Error>())
    }

    #[test]
    fn candle_errors_round_trip_whole_with_their_backtrace() {
        let e = candle_core::Error::WithBacktrace {
            inner: Box::new(candle_core::Error::Msg("boom\ninner line".into())),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        };
        let full = e.to_string();
        assert!(full.lines().count() > 2, "{full}");
        let s = candle_error(e);
        // One readable line...
        assert_eq!(s.to_string(), "backend error: candle: boom");
        // ...and the candle error itself as the source, every line of it.
        let src = candle_source(&s).map(|c| c.to_string());
        assert_eq!(src.as_deref(), Some(full.as_str()));
        assert!(format!("{s:?}").contains("inner line"));
    }

    #[test]
    fn typed_candle_errors_stay_reachable() {
        let e = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)
            .and_then(|t| t.reshape((4, 2)))
            .map(|_| ())
            .map_err(candle_error);
        let Err(s) = e else {
            panic!("a reshape of 6 values into 8 must fail");
        };
        assert!(matches!(
            candle_source(&s).map(|c| match c {
                candle_core::Error::WithBacktrace { inner, .. } => &**inner,
                c => c,
            }),
            Some(candle_core::Error::ShapeMismatchBinaryOp { .. })
                | Some(candle_core::Error::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn hints_keep_the_source() {
        let s = candle_error(candle_core::Error::Msg(
            "backward not supported for maxpool2d".into(),
        ));
        let text = s.to_string();
        assert!(text.contains("ops::max_pool2d"), "{text}");
        assert!(
            text.contains("backward not supported for maxpool2d"),
            "{text}"
        );
        assert!(candle_source(&s).is_some());
        let s = model_call_error(
            candle_core::Error::Msg("in_channel mismatch".into()),
            &[2, 32, 32, 3],
        );
        let text = s.to_string();
        assert!(text.contains("channel-last") && text.contains("in_channel mismatch"));
        assert!(candle_source(&s).is_some());
        let s = model_call_error(candle_core::Error::Msg("oops".into()), &[2, 3, 32, 32]);
        assert_eq!(s.to_string(), "backend error: candle: oops");
    }
}
