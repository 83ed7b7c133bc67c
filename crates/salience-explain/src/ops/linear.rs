//! A dense layer whose backward pass computes only the gradients that
//! backpropagation asks for.
//!
//! `candle_nn::Linear` is `x·Wᵀ + b` from candle's generic ops, whose
//! backward passes compute both operands' gradients: an attribution pass
//! through constant weights also computes the weight gradient `Gᵀ·x` and
//! a zero-filled bias accumulator, and discards them. [`linear`] runs the
//! same layer as one op on the CPU whose backward pass returns the input
//! gradient `G·W`, and the weight and bias gradients only when those are
//! `Var`s or depend on one (training from a `VarMap`).

use super::{by_float, layer_op_impls, needs_grad, LayerGrads, LayerOp};
use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, DType, Layout, Module, Shape, Tensor, WithDType};

/// `layer.forward(x)` (`x·Wᵀ + b`) with a backward pass that skips the
/// weight and bias gradients when they are not needed (see the module
/// docs). Inputs of rank 2 on the CPU in f32 or f64 take that path; other
/// ranks, dtypes and devices run `candle_nn::Linear`'s own forward. The
/// values are those of `layer.forward(x)` (the same matrix product).
///
/// ```
/// use candle_core::{Device, Module, Tensor};
/// let dev = Device::Cpu;
/// let w = Tensor::new(&[[1f32, 2.], [3., 4.], [5., 6.]], &dev).unwrap();
/// let b = Tensor::new(&[0.5f32, -1., 0.], &dev).unwrap();
/// let layer = candle_nn::Linear::new(w, Some(b));
/// let x = Tensor::new(&[[1f32, 1.], [0., 2.]], &dev).unwrap();
/// let y = salience_explain::ops::linear(&layer, &x).unwrap();
/// assert_eq!(y.to_vec2::<f32>().unwrap(), vec![vec![3.5, 6., 11.], vec![4.5, 7., 12.]]);
/// assert_eq!(y.to_vec2::<f32>().unwrap(), layer.forward(&x).unwrap().to_vec2::<f32>().unwrap());
/// ```
pub fn linear(layer: &candle_nn::Linear, x: &Tensor) -> candle_core::Result<Tensor> {
    let w = layer.weight();
    let b = layer.bias();
    let fits = x.device().is_cpu()
        && matches!(x.dtype(), DType::F32 | DType::F64)
        && w.dtype() == x.dtype()
        && b.is_none_or(|b| b.dtype() == x.dtype());
    let (n, d_in) = match (fits, x.dims(), w.dims()) {
        (true, &[n, d], &[_, wd]) if d == wd => (n, d),
        // Anything else (including shape errors) as candle-nn does it.
        _ => return layer.forward(x),
    };
    let d_out = w.dim(0)?;
    if let Some(b) = b {
        if b.dims() != [d_out] {
            bail!("linear: bias of shape {:?}, expected [{d_out}]", b.dims());
        }
    }
    let op = LinearOp { n, d_in, d_out };
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, op),
        None => x.apply_op2(&w, op),
    }
}

/// `[n, d_in] · [d_out, d_in]ᵀ (+ b)` as one op (see [`linear`]).
#[derive(Debug, Clone, Copy)]
struct LinearOp {
    n: usize,
    d_in: usize,
    d_out: usize,
}

fn offset(l: &Layout) -> candle_core::Result<usize> {
    match l.contiguous_offsets() {
        Some((a, _)) => Ok(a),
        None => bail!("linear: the operands must be contiguous"),
    }
}

impl LinearOp {
    fn product<T: WithDType>(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<CpuStorage> {
        let LinearOp { n, d_in, d_out } = *self;
        let x_layout = Layout::contiguous_with_offset((n, d_in), offset(xl)?);
        let wt_layout =
            Layout::contiguous_with_offset((d_out, d_in), offset(wl)?).transpose(0, 1)?;
        let y = xs.matmul(ws, (1, n, d_out, d_in), &x_layout, &wt_layout)?;
        let Some((bs, bl)) = bias else {
            return Ok(y);
        };
        let b = &T::cpu_storage_as_slice(bs)?[offset(bl)?..][..d_out];
        let mut v = T::cpu_storage_data(y)?;
        for row in v.chunks_exact_mut(d_out) {
            for (y, &bo) in row.iter_mut().zip(b) {
                *y += bo;
            }
        }
        Ok(T::to_cpu_storage_owned(v))
    }
}

impl LayerOp for LinearOp {
    fn forward(
        &self,
        (xs, xl): (&CpuStorage, &Layout),
        (ws, wl): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = by_float(
            xs,
            "linear",
            || self.product::<f32>(xs, xl, ws, wl, bias),
            || self.product::<f64>(xs, xl, ws, wl, bias),
        )?;
        Ok((y, Shape::from((self.n, self.d_out))))
    }

    /// `G·W`, `Gᵀ·x` and `Σ_rows G`, each only when asked for.
    fn grads(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        grad: &Tensor,
    ) -> candle_core::Result<LayerGrads> {
        let gx = match x.track_op() {
            true => Some(grad.matmul(weight)?),
            false => None,
        };
        let gw = match needs_grad(weight) {
            true => Some(grad.t()?.matmul(x)?),
            false => None,
        };
        let gb = match bias {
            Some(b) if needs_grad(b) => Some(grad.sum(0)?),
            _ => None,
        };
        Ok((gx, gw, gb))
    }
}

layer_op_impls!(LinearOp, "salience-linear", "salience-linear-bias");

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Seeded f64 values in [−0.5, 0.5).
    fn seeded(shape: &[usize], seed: u64) -> Tensor {
        super::super::test_util::seeded(shape, seed)
            .to_dtype(DType::F64)
            .expect("f64")
    }

    /// The loss ⟨linear(x), g⟩ is linear in x, W and b, so each gradient
    /// is the exact change under a unit step of a coordinate (f64). The
    /// gradient store holds entries for the `Var`s only: no weight or
    /// bias gradient is computed for constant weights.
    #[test]
    fn only_the_gradients_of_vars_are_computed_and_they_are_exact() {
        let (x, w, b, g) = (
            seeded(&[3, 4], 1),
            seeded(&[5, 4], 2),
            seeded(&[5], 3),
            seeded(&[3, 5], 4),
        );
        let loss = |args: &[Tensor; 3], vars: [bool; 3]| {
            let vs: Vec<Option<Var>> = args
                .iter()
                .zip(vars)
                .map(|(t, v)| v.then(|| Var::from_tensor(t).expect("var")))
                .collect();
            let t = |i: usize| {
                vs[i]
                    .as_ref()
                    .map_or(args[i].clone(), |v| v.as_tensor().clone())
            };
            let layer = candle_nn::Linear::new(t(1), Some(t(2)));
            let l = linear(&layer, &t(0))
                .and_then(|y| (y * &g)?.sum_all())
                .expect("loss");
            let store = l.backward().expect("backward");
            let grads: Vec<Option<Vec<f64>>> = vs
                .iter()
                .map(|v| {
                    v.as_ref().map(|v| {
                        store
                            .get(v.as_tensor())
                            .and_then(|t| t.flatten_all().ok())
                            .and_then(|t| t.to_vec1().ok())
                            .expect("gradient of a Var")
                    })
                })
                .collect();
            (
                l.to_scalar::<f64>().expect("scalar"),
                grads,
                // candle's multiply backward also leaves one for the constant g.
                store.get_ids().filter(|&&id| id != g.id()).count(),
            )
        };
        let args = [x, w, b];
        for vars in [
            [true, false, false],
            [false, true, false],
            [false, false, true],
            [true, true, true],
        ] {
            let (l0, grads, entries) = loss(&args, vars);
            assert_eq!(entries, vars.iter().filter(|&&v| v).count(), "{vars:?}");
            for (which, grad) in grads.iter().enumerate() {
                let Some(grad) = grad else { continue };
                let base: Vec<f64> = args[which]
                    .flatten_all()
                    .and_then(|t| t.to_vec1())
                    .expect("v");
                for (i, gi) in grad.iter().enumerate() {
                    let mut v = base.clone();
                    v[i] += 1.0;
                    let mut moved = args.clone();
                    moved[which] =
                        Tensor::from_vec(v, args[which].dims(), &Device::Cpu).expect("t");
                    let (l1, _, _) = loss(&moved, [false; 3]);
                    assert!((l1 - l0 - gi).abs() < 1e-12, "arg {which} coordinate {i}");
                }
            }
        }
    }

    #[test]
    fn other_ranks_and_bad_shapes_go_through_candle_nn() {
        let layer = candle_nn::Linear::new(seeded(&[5, 4], 2), Some(seeded(&[5], 3)));
        let x3 = seeded(&[2, 3, 4], 5);
        let ours = linear(&layer, &x3).expect("rank 3");
        let theirs = layer.forward(&x3).expect("candle");
        let d = (ours - theirs)
            .and_then(|d| d.abs()?.max_all()?.to_scalar::<f64>())
            .expect("diff");
        assert_eq!(d, 0.0);
        assert!(linear(&layer, &seeded(&[2, 3], 6)).is_err());
        let bad_bias = candle_nn::Linear::new(seeded(&[5, 4], 2), Some(seeded(&[4], 3)));
        assert!(linear(&bad_bias, &seeded(&[2, 4], 6)).is_err());
    }
}
