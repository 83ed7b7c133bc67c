//! In-memory labelled image sets: raw bytes ([`GrayImages`]) and
//! model-ready floats ([`LabelledImages`]).

use ndarray::{Array3, Array4, Axis};
use salience_core::{Result, SalienceError};

/// Grey-scale images as stored in IDX files: `images[[i, row, col]]` in
/// `0..=255`, with one class label per image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrayImages {
    /// `[n, rows, cols]` bytes.
    pub images: Array3<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
}

impl GrayImages {
    /// Pairs images and labels, checking that their counts agree and that
    /// the set is not empty.
    ///
    /// ```
    /// use salience_datasets::GrayImages;
    /// let g = GrayImages::new(ndarray::Array3::zeros((2, 4, 4)), vec![1, 2]).unwrap();
    /// assert_eq!(g.len(), 2);
    /// assert!(GrayImages::new(ndarray::Array3::zeros((2, 4, 4)), vec![1]).is_err());
    /// ```
    pub fn new(images: Array3<u8>, labels: Vec<u8>) -> Result<Self> {
        if images.len_of(Axis(0)) != labels.len() {
            return Err(SalienceError::format(
                "labelled images",
                format!(
                    "{} images but {} labels",
                    images.len_of(Axis(0)),
                    labels.len()
                ),
            ));
        }
        if labels.is_empty() || images.is_empty() {
            return Err(SalienceError::Empty("labelled images: no image".into()));
        }
        Ok(GrayImages { images, labels })
    }

    /// The number of images.
    ///
    /// ```
    /// let g = salience_datasets::GrayImages::new(ndarray::Array3::zeros((3, 2, 2)), vec![0; 3]).unwrap();
    /// assert_eq!(g.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no image (never true for a set built by
    /// [`GrayImages::new`]).
    ///
    /// ```
    /// let g = salience_datasets::GrayImages::new(ndarray::Array3::zeros((1, 2, 2)), vec![0]).unwrap();
    /// assert!(!g.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Images `start .. start + len` as model inputs: `[len, 1, rows,
    /// cols]` floats in `[0, 1]` (byte / 255).
    ///
    /// ```
    /// let g = salience_datasets::GrayImages::new(ndarray::Array3::from_elem((3, 2, 2), 255u8), vec![0, 1, 2]).unwrap();
    /// let l = g.to_labelled(1, 2).unwrap();
    /// assert_eq!(l.images.shape(), &[2, 1, 2, 2]);
    /// assert_eq!(l.labels, vec![1, 2]);
    /// assert_eq!(l.images[[0, 0, 0, 0]], 1.0);
    /// ```
    pub fn to_labelled(&self, start: usize, len: usize) -> Result<LabelledImages> {
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.len())
            .ok_or_else(|| {
                SalienceError::invalid(
                    "len",
                    len,
                    &format!("range {start}..{start}+{len} exceeds {} images", self.len()),
                )
            })?;
        let (_, rows, cols) = self.images.dim();
        let part = self.images.slice(ndarray::s![start..end, .., ..]);
        let images = part
            .mapv(|v| f32::from(v) / 255.0)
            .into_shape_with_order((len, 1, rows, cols))
            .map_err(|e| SalienceError::format("images", e.to_string()))?;
        Ok(LabelledImages {
            images,
            labels: self.labels[start..end]
                .iter()
                .map(|&l| l as usize)
                .collect(),
        })
    }
}

/// Model-ready images: `[n, channels, height, width]` floats in `[0, 1]`
/// with one class label per image.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledImages {
    /// NCHW floats in `[0, 1]`.
    pub images: Array4<f32>,
    /// One class index per image.
    pub labels: Vec<usize>,
}

impl LabelledImages {
    /// The number of images.
    ///
    /// ```
    /// let l = salience_datasets::LabelledImages { images: ndarray::Array4::zeros((2, 1, 3, 3)), labels: vec![0, 1] };
    /// assert_eq!(l.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no image.
    ///
    /// ```
    /// let l = salience_datasets::LabelledImages { images: ndarray::Array4::zeros((0, 1, 3, 3)), labels: vec![] };
    /// assert!(l.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images at `indices` (in that order, repeats allowed) with their
    /// labels.
    ///
    /// Errors: an index out of range ([`salience_core::SalienceError::InvalidParameter`]).
    ///
    /// ```
    /// let l = salience_datasets::LabelledImages { images: ndarray::Array4::zeros((3, 1, 2, 2)), labels: vec![5, 6, 7] };
    /// assert_eq!(l.select(&[2, 0])?.labels, vec![7, 5]);
    /// assert!(l.select(&[3]).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn select(&self, indices: &[usize]) -> Result<LabelledImages> {
        // (the fields are public: never index past either of them)
        let n = self.len().min(self.images.len_of(Axis(0)));
        if let Some(&i) = indices.iter().find(|&&i| i >= n) {
            return Err(SalienceError::invalid(
                "index",
                i,
                &format!("there are {n} images"),
            ));
        }
        Ok(LabelledImages {
            images: self.images.select(Axis(0), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        })
    }

    /// The first `max` images (in order) whose index is not in `indices`:
    /// e.g. reference images disjoint from the explained ones.
    ///
    /// ```
    /// let l = salience_datasets::LabelledImages { images: ndarray::Array4::zeros((4, 1, 2, 2)), labels: vec![0, 1, 2, 3] };
    /// assert_eq!(l.others(&[1, 2], 5).labels, vec![0, 3]);
    /// assert_eq!(l.others(&[], 1).labels, vec![0]);
    /// ```
    pub fn others(&self, indices: &[usize], max: usize) -> LabelledImages {
        let n = self.len().min(self.images.len_of(Axis(0)));
        let rest: Vec<usize> = (0..n).filter(|i| !indices.contains(i)).take(max).collect();
        LabelledImages {
            images: self.images.select(Axis(0), &rest),
            labels: rest.iter().map(|&i| self.labels[i]).collect(),
        }
    }
}
