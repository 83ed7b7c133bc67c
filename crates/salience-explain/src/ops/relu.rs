//! ReLU with a one-pass backward.
//!
//! candle's `Tensor::relu` backward builds its mask from full-size
//! temporaries (a zero tensor, a `u8` comparison, its conversion to the
//! float type, a product). On the CPU, [`relu`] is one custom op whose
//! backward pass is one loop over `(x, grad)`.

use super::by_float;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor, WithDType,
};

/// `max(x, 0)`, with the gradient of candle's `Tensor::relu` (1 where
/// `x ≥ 0`, 0 elsewhere, so the gradient at exactly 0 is 1 as in candle).
/// On the CPU (f32, f64) it is one op with a one-pass backward; other
/// devices and dtypes run `Tensor::relu`.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// let x = Var::new(&[-1f32, 0., 2.], &Device::Cpu).unwrap();
/// let y = salience_explain::ops::relu(x.as_tensor()).unwrap();
/// assert_eq!(y.to_vec1::<f32>().unwrap(), vec![0., 0., 2.]);
/// let g = y.sum_all().unwrap().backward().unwrap();
/// assert_eq!(g.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap(), vec![0., 1., 1.]);
/// ```
pub fn relu(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(Relu)
    } else {
        x.relu()
    }
}

#[derive(Debug, Clone, Copy)]
struct Relu;

fn contiguous<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&T::cpu_storage_as_slice(s)?[a..b]),
        None => bail!("relu needs a contiguous tensor"),
    }
}

fn map<T: WithDType>(s: &CpuStorage, l: &Layout) -> candle_core::Result<CpuStorage> {
    let x = contiguous::<T>(s, l)?;
    let zero = T::zero();
    let y: Vec<T> = x.iter().map(|&v| if v > zero { v } else { zero }).collect();
    Ok(T::to_cpu_storage_owned(y))
}

fn mask<T: WithDType>(
    xs: &CpuStorage,
    xl: &Layout,
    gs: &CpuStorage,
    gl: &Layout,
) -> candle_core::Result<CpuStorage> {
    let (x, g) = (contiguous::<T>(xs, xl)?, contiguous::<T>(gs, gl)?);
    if x.len() != g.len() {
        bail!(
            "relu backward: {} values and {} gradients",
            x.len(),
            g.len()
        );
    }
    let zero = T::zero();
    let d: Vec<T> = x
        .iter()
        .zip(g)
        .map(|(&v, &gv)| if v >= zero { gv } else { zero })
        .collect();
    Ok(T::to_cpu_storage_owned(d))
}

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "salience-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = by_float(s, "relu", || map::<f32>(s, l), || map::<f64>(s, l))?;
        Ok((out, l.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &ReluGrad)?))
    }
}

/// `(x, grad)` → `grad · [x ≥ 0]`.
#[derive(Debug, Clone, Copy)]
struct ReluGrad;

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "salience-relu-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = by_float(
            xs,
            "relu",
            || mask::<f32>(xs, xl, gs, gl),
            || mask::<f64>(xs, xl, gs, gl),
        )?;
        Ok((out, xl.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Values and gradients equal candle's `relu` exactly, zeros included.
    #[test]
    fn equals_candle_relu_values_and_gradients() {
        let v: Vec<f64> = (0..60).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        assert!(v.contains(&0.0));
        let x = Tensor::from_vec(v, (3, 4, 5), &Device::Cpu).unwrap();
        let wts = Tensor::arange(1f64, 61., &Device::Cpu)
            .unwrap()
            .reshape((3, 4, 5))
            .unwrap();
        let run = |f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>| {
            let var = Var::from_tensor(&x).unwrap();
            let y = f(var.as_tensor()).unwrap();
            let g = (&y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            (flat(&y), flat(g.get(&var).unwrap()))
        };
        assert_eq!(run(&|t| relu(t)), run(&|t| t.relu()));
        // A strided (transposed) input is made contiguous first.
        let xt = x.transpose(1, 2).unwrap();
        let a = relu(&xt)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let b = xt
            .relu()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        assert_eq!(a, b);
    }
}
