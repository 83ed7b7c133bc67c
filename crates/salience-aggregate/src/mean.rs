//! Mean aggregation (Mahlau & Nolde 2022, eq. 5; Rieger & Hansen's AGG_mean).

use crate::kernel::{finish, map_chunks};
use crate::Aggregator;
use salience_core::{AttributionBatch, Ensemble, Result};

/// g_avg(E) = (1/k) Σ_e e, pixel by pixel. Summed in f32 (at memory
/// speed); where the f32 sum overflows, the chunk is summed again in f64,
/// so the mean of finite maps is always finite (k maps all equal to 3e38
/// give 3e38).
///
/// ```
/// use ndarray::Array;
/// use salience_aggregate::{Aggregator, Mean};
/// use salience_core::Ensemble;
/// let e = Ensemble::from_stacked(
///     Array::from_shape_vec((2, 1, 2), vec![1.0f32, 2.0, 3.0, 6.0]).unwrap().into_dyn(),
///     None,
/// ).unwrap();
/// let m = Mean.aggregate(&e).unwrap();
/// assert_eq!(m.view().as_slice().unwrap(), &[2.0, 4.0]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mean;

impl Aggregator for Mean {
    fn name(&self) -> String {
        "mean".into()
    }

    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        let inv_k = 1.0 / ensemble.k() as f32;
        let out = map_chunks(ensemble, |c, out| {
            out.copy_from_slice(c.planes[0]);
            for plane in &c.planes[1..] {
                for (o, &v) in out.iter_mut().zip(plane.iter()) {
                    *o += v;
                }
            }
            for o in out.iter_mut() {
                *o *= inv_k;
            }
            // The f32 sum can overflow although the mean of finite values
            // is representable (k maps all equal to 3e38): redo such a
            // chunk in f64, whose sum of finite f32 values cannot overflow.
            if out.iter().any(|o| !o.is_finite()) {
                let k = c.planes.len() as f64;
                for (i, o) in out.iter_mut().enumerate() {
                    *o = (c.planes.iter().map(|p| f64::from(p[i])).sum::<f64>() / k) as f32;
                }
            }
            Ok(())
        })?;
        finish(ensemble, out, "mean")
    }
}
