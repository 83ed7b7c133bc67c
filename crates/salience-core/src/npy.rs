//! `.npy` input and output for batches and ensembles (NumPy's format, as
//! written by `np.save`; f32 or f64 arrays are read, f32 is written).
//! Every error names the file.

use crate::attribution::AttributionBatch;
use crate::ensemble::Ensemble;
use crate::error::{Result, SalienceError};
use ndarray::{ArrayD, Axis};
use ndarray_npy::WriteNpyExt;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> SalienceError {
    SalienceError::io(action, path, source)
}

/// The element type of a `.npy` file this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Float {
    F32,
    F64,
}

/// What a `.npy` header says: element type and byte order, memory order
/// and shape.
#[derive(Debug)]
struct Header {
    dtype: Float,
    little_endian: bool,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// The value of `key` in a NumPy header dict (`{'descr': '<f4', ...}`),
/// as the raw text after the colon up to the next top-level `,` or `}`.
fn dict_value<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let at = [format!("'{key}'"), format!("\"{key}\"")]
        .iter()
        .find_map(|k| dict.find(k.as_str()).map(|i| i + k.len()))?;
    let rest = dict.get(at..)?.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)?
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    rest.get(..end).map(str::trim)
}

fn parse_header(dict: &str) -> std::result::Result<Header, String> {
    let descr = dict_value(dict, "descr").ok_or("the header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let (little_endian, dtype) = match descr {
        "<f4" | "=f4" => (true, Float::F32),
        ">f4" => (false, Float::F32),
        "<f8" | "=f8" => (true, Float::F64),
        ">f8" => (false, Float::F64),
        other => {
            return Err(format!(
                "dtype '{other}' is not float32 or float64 (expected '<f4' or '<f8')"
            ))
        }
    };
    let fortran_order = match dict_value(dict, "fortran_order") {
        Some("False") => false,
        Some("True") => true,
        other => return Err(format!("bad 'fortran_order' {other:?}")),
    };
    let shape_text = dict_value(dict, "shape").ok_or("the header has no 'shape'")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("bad 'shape' {shape_text}"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("bad 'shape' {shape_text}"))
        })
        .collect::<std::result::Result<Vec<usize>, String>>()?;
    Ok(Header {
        dtype,
        little_endian,
        fortran_order,
        shape,
    })
}

/// Reads the preamble and header of a `.npy` file of `file_len` bytes:
/// the header and the offset of the data. Nothing is allocated from a size the file states
/// before it is checked against the file's length.
fn read_header(file: &mut File, file_len: u64) -> std::result::Result<(Header, u64), String> {
    use std::io::Read;
    let mut pre = [0u8; 10];
    file.read_exact(&mut pre[..8])
        .map_err(|_| format!("not a .npy file: {file_len} bytes, too short for the preamble"))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (header_len, prefix) = match pre[6] {
        1 => {
            file.read_exact(&mut pre[8..10])
                .map_err(|_| "truncated preamble".to_string())?;
            (u64::from(u16::from_le_bytes([pre[8], pre[9]])), 10u64)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            file.read_exact(&mut b)
                .map_err(|_| "truncated preamble".to_string())?;
            (u64::from(u32::from_le_bytes(b)), 12u64)
        }
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let data_start = prefix + header_len;
    if data_start > file_len {
        return Err(format!(
            "truncated: the header says it is {header_len} bytes long, the file has {} after the preamble",
            file_len - prefix
        ));
    }
    // header_len <= file_len here, so this allocation is bounded by the file.
    let mut text = vec![0u8; header_len as usize];
    file.read_exact(&mut text)
        .map_err(|e| format!("reading the header: {e}"))?;
    let text = String::from_utf8_lossy(&text);
    Ok((parse_header(&text)?, data_start))
}

/// Reads an f32 (or f64, converted) array of any rank from a `.npy` file
/// (either byte order, C or Fortran order; the result is in standard
/// layout).
///
/// The header is checked before anything is allocated from it: the dtype
/// must be float32 or float64, and the element count × item size
/// (overflow-checked) must equal the data length of the file (a shorter
/// file is reported as "truncated: header says N bytes of data, file has
/// M"). Values must be finite, and f64 values must fit f32: the first
/// offending value (in the file's order) is reported with its flat
/// row-major index and the
/// file ([`SalienceError::NonFinite`], or [`SalienceError::InvalidParameter`]
/// for a finite f64 beyond ±[`f32::MAX`]). Errors never panic or abort,
/// whatever the file holds.
///
/// ```
/// use salience_core::npy;
/// let dir = std::env::temp_dir().join("salience_doc_npy_read");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("nan.npy");
/// npy::write_array(&path, &ndarray::arr1(&[1.0f32, f32::NAN]).into_dyn()).unwrap();
/// let e = npy::read_array(&path).unwrap_err().to_string();
/// assert!(e.contains("index 1") && e.contains("nan.npy"), "{e}");
/// ```
pub fn read_array(path: impl AsRef<Path>) -> Result<ArrayD<f32>> {
    use std::io::Read;
    let path = path.as_ref();
    let bad = |m: String| SalienceError::io_invalid("reading", path, m);
    let mut file = File::open(path).map_err(|e| io_err("reading", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| io_err("reading", path, e))?
        .len();
    let (header, data_start) = read_header(&mut file, file_len).map_err(bad)?;
    let item = match header.dtype {
        Float::F32 => 4usize,
        Float::F64 => 8,
    };
    let n_bytes = header
        .shape
        .iter()
        .try_fold(item, |a, &d| a.checked_mul(d))
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(|| {
            bad(format!(
                "the header's shape {:?} overflows the address space",
                header.shape
            ))
        })?;
    let available = file_len - data_start;
    if (n_bytes as u64) != available {
        let what = if (n_bytes as u64) > available {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(bad(format!(
            "{what}: header says {n_bytes} bytes of data (shape {:?}), file has {available}",
            header.shape
        )));
    }
    // n_bytes == the file's data length: the allocation is bounded by the file.
    let mut raw = vec![0u8; n_bytes];
    file.read_exact(&mut raw)
        .map_err(|e| io_err("reading", path, e))?;
    let values = decode(&raw, &header).map_err(|(file_index, v)| {
        let index = row_major_index(file_index, &header);
        if v.is_finite() {
            SalienceError::invalid(
                &format!("value at flat index {index} of {}", path.display()),
                v,
                "a float64 value outside the float32 range (±3.4028235e38)",
            )
        } else {
            SalienceError::NonFinite {
                context: format!("array in {}", path.display()),
                index,
                value: v as f32,
            }
        }
    })?;
    let shape = ndarray::IxDyn(&header.shape);
    let array = if header.fortran_order {
        ArrayD::from_shape_vec(ndarray::ShapeBuilder::f(shape), values)
    } else {
        ArrayD::from_shape_vec(shape, values)
    }
    .map_err(|e| bad(e.to_string()))?;
    let array = if array.is_standard_layout() {
        array
    } else {
        array.as_standard_layout().into_owned()
    };
    Ok(array)
}

/// The row-major flat index of the value at `file_index` in the file's
/// order (different for Fortran-order files).
fn row_major_index(file_index: usize, header: &Header) -> usize {
    if !header.fortran_order {
        return file_index;
    }
    // Unravel in Fortran order (first axis fastest), ravel in C order.
    let mut rest = file_index;
    let mut multi = Vec::with_capacity(header.shape.len());
    for &d in &header.shape {
        multi.push(rest % d.max(1));
        rest /= d.max(1);
    }
    multi
        .iter()
        .zip(&header.shape)
        .fold(0, |acc, (&i, &d)| acc * d + i)
}

/// Decodes raw `.npy` data to f32; the error is the first value (in file
/// order) that is non-finite or, for f64, beyond the f32 range, with its
/// index.
fn decode(raw: &[u8], header: &Header) -> std::result::Result<Vec<f32>, (usize, f64)> {
    let le = header.little_endian;
    let check = |(i, v): (usize, f64)| -> std::result::Result<f32, (usize, f64)> {
        let f = v as f32;
        if f.is_finite() {
            Ok(f)
        } else {
            Err((i, v))
        }
    };
    match header.dtype {
        Float::F32 => raw
            .chunks_exact(4)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3]];
                f64::from(if le {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                })
            })
            .enumerate()
            .map(check)
            .collect(),
        Float::F64 => raw
            .chunks_exact(8)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                if le {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                }
            })
            .enumerate()
            .map(check)
            .collect(),
    }
}

/// Writes an f32 array to a `.npy` file.
pub fn write_array(path: impl AsRef<Path>, array: &ArrayD<f32>) -> Result<()> {
    let path = path.as_ref();
    let f = File::create(path).map_err(|e| io_err("writing", path, e))?;
    array
        .write_npy(BufWriter::new(f))
        .map_err(|e| SalienceError::io_invalid("writing", path, e))
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
///
/// Every write stays inside `dir`: before anything is created, each map
/// name must be a plain file name ([`crate::validate::check_file_name`]:
/// non-empty, no `/`, `\`, NUL or `..`, not absolute) and the names must
/// be distinct, so no map overwrites another.
///
/// ```
/// use ndarray::Array2;
/// use salience_core::{npy, AttributionBatch, Ensemble};
/// let b = AttributionBatch::from_tabular(Array2::zeros((1, 2))).unwrap();
/// let dir = std::env::temp_dir().join("salience_doc_npy_write_files");
/// let e = Ensemble::new(vec![("../escaped".into(), b.clone())]).unwrap();
/// assert!(npy::write_ensemble_files(&dir, &e).is_err());
/// let e = Ensemble::new(vec![("a".into(), b.clone()), ("a".into(), b)]).unwrap();
/// assert!(npy::write_ensemble_files(&dir, &e).is_err());
/// ```
pub fn write_ensemble_files(dir: impl AsRef<Path>, ensemble: &Ensemble) -> Result<()> {
    let dir = dir.as_ref();
    let names = ensemble.names();
    for (i, name) in names.iter().enumerate() {
        crate::validate::check_file_name(name, &format!("ensemble map name {i}"))?;
        if let Some(j) = names[..i].iter().position(|n| n == name) {
            return Err(SalienceError::invalid(
                &format!("ensemble map name {i}"),
                format!("{name:?}"),
                &format!("duplicates map {j}'s name: both would be written to {name}.npy"),
            ));
        }
    }
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
