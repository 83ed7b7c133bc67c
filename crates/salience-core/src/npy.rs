//! `.npy` input and output for batches and ensembles (NumPy's format, as
//! written by `np.save`; f32 or f64 arrays are read, f32 is written).
//! Every error names the file.

use crate::attribution::AttributionBatch;
use crate::ensemble::Ensemble;
use crate::error::{Result, SalienceError};
use ndarray::{ArrayD, Axis};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

fn io_err(action: &'static str, path: &Path, message: impl std::fmt::Display) -> SalienceError {
    SalienceError::Io {
        action,
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Reads an f32 (or f64, converted) array of any rank from a `.npy` file.
pub fn read_array(path: impl AsRef<Path>) -> Result<ArrayD<f32>> {
    let path = path.as_ref();
    let open = || -> Result<BufReader<File>> {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| io_err("reading", path, e))
    };
    match ArrayD::<f32>::read_npy(open()?) {
        Ok(a) => Ok(a),
        Err(e32) => match ArrayD::<f64>::read_npy(open()?) {
            Ok(a) => Ok(a.mapv(|v| v as f32)),
            Err(_) => Err(io_err(
                "reading",
                path,
                format!("not a float32/float64 .npy array ({e32})"),
            )),
        },
    }
}

/// Writes an f32 array to a `.npy` file.
pub fn write_array(path: impl AsRef<Path>, array: &ArrayD<f32>) -> Result<()> {
    let path = path.as_ref();
    let f = File::create(path).map_err(|e| io_err("writing", path, e))?;
    array
        .write_npy(BufWriter::new(f))
        .map_err(|e| io_err("writing", path, e))
}

/// Reads an attribution batch `[N, ...]` from a `.npy` file.
///
/// ```
/// use ndarray::Array3;
/// use salience_core::{npy, AttributionBatch};
/// let dir = std::env::temp_dir().join("salience_doc_npy_batch");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("b.npy");
/// let b = AttributionBatch::from_pixel_maps(Array3::from_elem((2, 3, 4), 0.5)).unwrap();
/// npy::write_batch(&path, &b).unwrap();
/// assert_eq!(npy::read_batch(&path).unwrap(), b);
/// ```
pub fn read_batch(path: impl AsRef<Path>) -> Result<AttributionBatch> {
    let path = path.as_ref();
    AttributionBatch::new(read_array(path)?).map_err(|e| with_file(e, path))
}

/// Writes an attribution batch to a `.npy` file.
pub fn write_batch(path: impl AsRef<Path>, batch: &AttributionBatch) -> Result<()> {
    let a = batch.view().to_owned();
    write_array(path, &a)
}

/// Reads a stacked ensemble `[k, N, ...]` from one `.npy` file.
pub fn read_ensemble(path: impl AsRef<Path>, names: Option<Vec<String>>) -> Result<Ensemble> {
    let path = path.as_ref();
    Ensemble::from_stacked(read_array(path)?, names).map_err(|e| with_file(e, path))
}

/// Writes an ensemble stacked as `[k, N, ...]` to one `.npy` file.
pub fn write_ensemble(path: impl AsRef<Path>, ensemble: &Ensemble) -> Result<()> {
    write_array(path, &ensemble.stacked().to_owned())
}

/// Reads one batch per file and stacks them into an ensemble; each map is
/// named after its file stem. Shape mismatches name the offending file.
///
/// ```
/// use ndarray::Array2;
/// use salience_core::{npy, AttributionBatch};
/// let dir = std::env::temp_dir().join("salience_doc_npy_files");
/// std::fs::create_dir_all(&dir).unwrap();
/// let a = AttributionBatch::from_tabular(Array2::zeros((2, 3))).unwrap();
/// let b = AttributionBatch::from_tabular(Array2::ones((2, 4))).unwrap();
/// npy::write_batch(dir.join("a.npy"), &a).unwrap();
/// npy::write_batch(dir.join("b.npy"), &b).unwrap();
/// let err = npy::read_ensemble_files(&[dir.join("a.npy"), dir.join("b.npy")]).unwrap_err();
/// assert!(err.to_string().contains("b.npy"));
/// ```
pub fn read_ensemble_files<P: AsRef<Path>>(paths: &[P]) -> Result<Ensemble> {
    if paths.is_empty() {
        return Err(SalienceError::Empty("no ensemble files given".into()));
    }
    let mut maps = Vec::with_capacity(paths.len());
    let mut first_shape: Option<(Vec<usize>, &Path)> = None;
    for p in paths {
        let p = p.as_ref();
        let b = read_batch(p)?;
        match &first_shape {
            None => first_shape = Some((b.shape().to_vec(), p)),
            Some((s, p0)) if s.as_slice() != b.shape() => {
                return Err(SalienceError::ShapeMismatch {
                    context: format!("ensemble file {}", p.display()),
                    expected: format!("{s:?} (the shape of {})", p0.display()),
                    found: b.shape().to_vec(),
                })
            }
            Some(_) => {}
        }
        let name = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("map{}", maps.len()));
        maps.push((name, b));
    }
    Ensemble::new(maps)
}

/// Writes each map of an ensemble to `dir/<name>.npy`.
pub fn write_ensemble_files(dir: impl AsRef<Path>, ensemble: &Ensemble) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| io_err("writing", dir, e))?;
    for (i, name) in ensemble.names().iter().enumerate() {
        let a = ensemble.stacked().index_axis(Axis(0), i).to_owned();
        write_array(dir.join(format!("{name}.npy")), &a)?;
    }
    Ok(())
}

fn with_file(e: SalienceError, path: &Path) -> SalienceError {
    match e {
        SalienceError::ShapeMismatch {
            context,
            expected,
            found,
        } => SalienceError::ShapeMismatch {
            context: format!("{context} in {}", path.display()),
            expected,
            found,
        },
        SalienceError::NonFinite {
            context,
            index,
            value,
        } => SalienceError::NonFinite {
            context: format!("{context} in {}", path.display()),
            index,
            value,
        },
        SalienceError::Empty(m) => SalienceError::Empty(format!("{m} in {}", path.display())),
        other => other,
    }
}
