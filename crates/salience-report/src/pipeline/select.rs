//! Which images to explain: [`correctly_classified`].

use ndarray::{ArrayViewD, Axis};
use rand::seq::SliceRandom;
use salience_core::{Model, Result, SalienceError};

/// Images classified per model call while searching.
const CHUNK: usize = 64;

/// The indices of `n` images of `images` (`[M, ...]`) that `model`
/// classifies as their `labels`, in the order of a shuffle seeded with
/// `seed` (the images a paper's "correctly classified test images" means).
/// The model is called on chunks of 64 images until `n` are found.
///
/// Errors: `labels` not one per image, `n` = 0 or more than the images,
/// a label out of the model's range, fewer than `n` correctly classified
/// images (naming how many were found), and model errors.
///
/// ```
/// use ndarray::{array, Array4};
/// use salience_core::LinearModel;
/// // Class 1 when the single pixel is positive.
/// let model = LinearModel::new(array![[-1.0f32], [1.0]], array![0.0f32, 0.0])?;
/// let x = Array4::from_shape_vec((4, 1, 1, 1), vec![1.0f32, -1.0, 2.0, -3.0]).unwrap();
/// let labels = [1, 1, 1, 0]; // image 1 is misclassified
/// let mut picked = salience_report::correctly_classified(&model, x.view().into_dyn(), &labels, 3, 7)?;
/// picked.sort();
/// assert_eq!(picked, vec![0, 2, 3]);
/// assert!(salience_report::correctly_classified(&model, x.view().into_dyn(), &labels, 4, 7).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn correctly_classified(
    model: &dyn Model,
    images: ArrayViewD<'_, f32>,
    labels: &[usize],
    n: usize,
    seed: u64,
) -> Result<Vec<usize>> {
    let m = images.shape().first().copied().unwrap_or(0);
    if labels.len() != m {
        return Err(SalienceError::invalid(
            "labels",
            labels.len(),
            &format!("one per image ({m})"),
        ));
    }
    if n == 0 || n > m {
        return Err(SalienceError::invalid("n", n, &format!("in 1..={m}")));
    }
    salience_core::validate::check_targets(labels, m, model.num_classes())?;
    let mut order: Vec<usize> = (0..m).collect();
    order.shuffle(&mut salience_core::seed::rng(seed));
    let mut chosen = Vec::with_capacity(n);
    for chunk in order.chunks(CHUNK) {
        let batch = images.select(Axis(0), chunk);
        let scores = model.forward(batch.view())?;
        for (row, &i) in scores.outer_iter().zip(chunk) {
            // First maximum; a NaN never wins.
            let predicted = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (k, &v)| if v > b.1 { (k, v) } else { b },
                )
                .0;
            if predicted == labels[i] && chosen.len() < n {
                chosen.push(i);
            }
        }
        if chosen.len() == n {
            return Ok(chosen);
        }
    }
    Err(SalienceError::invalid(
        "n",
        n,
        &format!(
            "only {} of the {m} images are correctly classified",
            chosen.len()
        ),
    ))
}
