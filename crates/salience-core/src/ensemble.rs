//! [`Ensemble`]: k attribution maps of one shape for the same N inputs.

use crate::attribution::{AttributionBatch, Layout};
use crate::error::{Result, SalienceError};
use crate::validate::{check_finite, check_nonempty_shape};
use ndarray::{concatenate, ArrayD, ArrayView3, ArrayViewD, Axis, IxDyn};

/// An ensemble of k attribution batches (one per method) for the same N
/// inputs, stored stacked as one `[k, N, ...]` f32 array so that
/// pixel-wise aggregation reads contiguous planes.
///
/// ```
/// use ndarray::Array3;
/// use salience_core::{AttributionBatch, Ensemble};
/// let a = AttributionBatch::from_pixel_maps(Array3::<f32>::zeros((2, 3, 3))).unwrap();
/// let b = AttributionBatch::from_pixel_maps(Array3::<f32>::ones((2, 3, 3))).unwrap();
/// let e = Ensemble::new(vec![("saliency".into(), a), ("ig".into(), b)]).unwrap();
/// assert_eq!((e.k(), e.n_samples(), e.feature_len()), (2, 2, 9));
/// assert_eq!(e.names(), &["saliency", "ig"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    data: ArrayD<f32>,
    names: Vec<String>,
    layout: Layout,
}

impl Ensemble {
    /// Builds an ensemble from named batches. All batches must have the
    /// same shape; there must be at least one.
    pub fn new(maps: Vec<(String, AttributionBatch)>) -> Result<Self> {
        let Some((_, first)) = maps.first() else {
            return Err(SalienceError::Empty("ensemble with k = 0 maps".into()));
        };
        let shape = first.shape().to_vec();
        for (i, (name, m)) in maps.iter().enumerate() {
            if m.shape() != shape.as_slice() {
                return Err(SalienceError::shape(
                    &format!("ensemble map {i} ('{name}')"),
                    format!(
                        "{shape:?} (the shape of map 0){}",
                        channel_hint(&shape, m.shape())
                    ),
                    m.shape(),
                ));
            }
        }
        let layout = first.layout();
        let views: Vec<ArrayViewD<'_, f32>> = maps
            .iter()
            .map(|(_, m)| m.view().insert_axis(Axis(0)))
            .collect();
        let data =
            concatenate(Axis(0), &views).map_err(|e| SalienceError::backend("ndarray", e))?;
        let names = maps.into_iter().map(|(n, _)| n).collect();
        Ok(Ensemble {
            data,
            names,
            layout,
        })
    }

    /// Wraps an already stacked `[k, N, ...]` array (rank 3 to 5). With
    /// `names = None` the maps are called `map0`, `map1`, …
    ///
    /// ```
    /// use ndarray::Array;
    /// use salience_core::Ensemble;
    /// let e = Ensemble::from_stacked(Array::zeros((3, 2, 4, 4)).into_dyn(), None).unwrap();
    /// assert_eq!(e.names()[2], "map2");
    /// assert!(Ensemble::from_stacked(Array::zeros((3, 2)).into_dyn(), None).is_err());
    /// ```
    pub fn from_stacked(data: ArrayD<f32>, names: Option<Vec<String>>) -> Result<Self> {
        let shape = data.shape().to_vec();
        if !(3..=5).contains(&shape.len()) {
            return Err(SalienceError::shape(
                "stacked ensemble",
                "[k, N, D], [k, N, H, W] or [k, N, C, H, W]",
                &shape,
            ));
        }
        if shape[0] == 0 {
            return Err(SalienceError::Empty("ensemble with k = 0 maps".into()));
        }
        check_nonempty_shape(&shape, "stacked ensemble")?;
        check_finite(&data, "stacked ensemble")?;
        let names = match names {
            Some(n) if n.len() != shape[0] => {
                return Err(SalienceError::invalid(
                    "names",
                    n.len(),
                    &format!("need one name per map (k = {})", shape[0]),
                ))
            }
            Some(n) => n,
            None => (0..shape[0]).map(|i| format!("map{i}")).collect(),
        };
        let layout = Layout::from_dims(&shape[2..])?;
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Ok(Ensemble {
            data,
            names,
            layout,
        })
    }

    /// Number of maps (methods) k.
    pub fn k(&self) -> usize {
        self.data.shape()[0]
    }

    /// Number of samples N.
    pub fn n_samples(&self) -> usize {
        self.data.shape()[1]
    }

    /// Values per sample per map.
    pub fn feature_len(&self) -> usize {
        self.layout.len()
    }

    /// The per-sample layout shared by all maps.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Method names, in map order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The stacked `[k, N, ...]` array.
    pub fn stacked(&self) -> ArrayViewD<'_, f32> {
        self.data.view()
    }

    /// The stacked array by value.
    pub fn into_stacked(self) -> (ArrayD<f32>, Vec<String>) {
        (self.data, self.names)
    }

    /// A `[k, N, features]` view of the same memory.
    pub fn as_flat(&self) -> ArrayView3<'_, f32> {
        let (k, n, p) = (self.k(), self.n_samples(), self.feature_len());
        match self.data.view().into_shape_with_order((k, n, p)) {
            Ok(v) => v,
            Err(_) => ArrayView3::from_shape((0, 0, 0), &[]).unwrap_or_else(|_| unreachable!()),
        }
    }

    /// Map `i` as a view `[N, ...]`.
    pub fn map(&self, i: usize) -> Result<ArrayViewD<'_, f32>> {
        if i >= self.k() {
            return Err(SalienceError::invalid(
                "map",
                i,
                &format!("ensemble has {} maps", self.k()),
            ));
        }
        Ok(self.data.index_axis(Axis(0), i))
    }

    /// Map `i` as an owned batch.
    pub fn batch(&self, i: usize) -> Result<AttributionBatch> {
        Ok(AttributionBatch::from_valid(
            self.map(i)?.to_owned(),
            self.layout,
        ))
    }

    /// The sub-ensemble of the given maps, in the given order.
    ///
    /// ```
    /// use ndarray::Array;
    /// use salience_core::Ensemble;
    /// let e = Ensemble::from_stacked(Array::zeros((3, 1, 2)).into_dyn(), None).unwrap();
    /// assert_eq!(e.select(&[2, 0]).unwrap().names(), &["map2", "map0"]);
    /// assert!(e.select(&[]).is_err());
    /// ```
    pub fn select(&self, maps: &[usize]) -> Result<Ensemble> {
        if maps.is_empty() {
            return Err(SalienceError::Empty("ensemble with k = 0 maps".into()));
        }
        if let Some(&bad) = maps.iter().find(|&&i| i >= self.k()) {
            return Err(SalienceError::invalid(
                "map",
                bad,
                &format!("ensemble has {} maps", self.k()),
            ));
        }
        // One gather of the selected planes (no per-map copy first).
        let data = self.data.select(Axis(0), maps);
        let names = maps.iter().map(|&i| self.names[i].clone()).collect();
        Ok(Ensemble::from_valid(data, names, self.layout))
    }

    /// The sub-ensemble restricted to samples `start .. start + len`.
    pub fn samples(&self, start: usize, len: usize) -> Result<Ensemble> {
        if len == 0 || start + len > self.n_samples() {
            return Err(SalienceError::invalid(
                "samples",
                format!("{start}..{}", start + len),
                &format!("must be a non-empty range within 0..{}", self.n_samples()),
            ));
        }
        let data = self
            .data
            .slice_axis(Axis(1), (start..start + len).into())
            .to_owned();
        Ensemble::from_stacked(data, Some(self.names.clone()))
    }

    pub(crate) fn from_valid(data: ArrayD<f32>, names: Vec<String>, layout: Layout) -> Self {
        debug_assert!(data.is_standard_layout());
        Ensemble {
            data,
            names,
            layout,
        }
    }

    /// The per-map shape `[N, ...]`.
    pub fn map_shape(&self) -> Vec<usize> {
        self.data.shape()[1..].to_vec()
    }

    /// Builds an [`AttributionBatch`] of this ensemble's map shape from a
    /// flat `[N * features]` vector (used by aggregators).
    pub fn batch_from_flat(&self, values: Vec<f32>) -> Result<AttributionBatch> {
        let shape = self.map_shape();
        let arr = ArrayD::from_shape_vec(IxDyn(&shape), values)
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        AttributionBatch::new(arr)
    }
}

/// When two map shapes differ only by a channel axis (`[N, C, H, W]` against
/// `[N, H, W]` or `[N, C', H, W]`), how to make them agree.
fn channel_hint(a: &[usize], b: &[usize]) -> &'static str {
    let pixels = |s: &[usize]| match s.len() {
        3 => Some((s[0], s[1], s[2])),
        4 => Some((s[0], s[2], s[3])),
        _ => None,
    };
    if a.len().max(b.len()) == 4 && pixels(a).is_some() && pixels(a) == pixels(b) {
        "; the maps differ only in their channel axis (e.g. Integrated Gradients' \
         [N, C, H, W] against Grad-CAM's [N, H, W]): reduce every map to [N, H, W] first \
         with AttributionBatch::reduce_channels, the PixelMaps explainer adapter, \
         `reduce=` in a registry spec, or aggregate_npy's --reduce"
    } else {
        ""
    }
}
