//! A reader for the IDX format of (Fashion-)MNIST, gzipped or plain.
//!
//! An IDX file is a 4-byte magic number — two zero bytes, a type code
//! (`0x08` = unsigned byte) and the number of dimensions — followed by
//! one big-endian `u32` per dimension and the values in row-major order.
//! Only unsigned-byte files (images and labels) are supported.

use flate2::read::GzDecoder;
use salience_core::{Result, SalienceError};
use std::io::Read;
use std::path::Path;

/// The IDX type code of unsigned bytes.
pub const IDX_U8: u8 = 0x08;

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first (`[n, rows, cols]` for images,
    /// `[n]` for labels).
    pub dims: Vec<usize>,
    /// The values, row-major; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Parses an uncompressed IDX buffer of unsigned bytes. `what` names the
/// buffer in errors.
///
/// Errors ([`salience_core::SalienceError::Format`]) on a bad magic number, a type other than
/// unsigned byte, zero dimensions, or a length that disagrees with the
/// dimensions (truncated or trailing data).
///
/// ```
/// use salience_datasets::idx::parse_idx;
/// // Two labels, 3 and 7.
/// let bytes = [0u8, 0, 8, 1, 0, 0, 0, 2, 3, 7];
/// let a = parse_idx(&bytes, "labels").unwrap();
/// assert_eq!(a.dims, vec![2]);
/// assert_eq!(a.data, vec![3, 7]);
/// assert!(parse_idx(&bytes[..9], "labels").is_err());
/// ```
pub fn parse_idx(bytes: &[u8], what: &str) -> Result<IdxArray> {
    let header = bytes.get(..4).ok_or_else(|| {
        SalienceError::format(
            what,
            format!("{} bytes, shorter than the 4-byte magic", bytes.len()),
        )
    })?;
    if header[0] != 0 || header[1] != 0 {
        return Err(SalienceError::format(
            what,
            format!("bad magic number {header:02x?}: an IDX file starts with two zero bytes"),
        ));
    }
    if header[2] != IDX_U8 {
        return Err(SalienceError::format(
            what,
            format!(
                "IDX type code {:#04x} is not supported (only unsigned byte, 0x08)",
                header[2]
            ),
        ));
    }
    let ndims = header[3] as usize;
    if ndims == 0 {
        return Err(SalienceError::format(what, "zero dimensions"));
    }
    let body = 4 + 4 * ndims;
    let dim_bytes = bytes.get(4..body).ok_or_else(|| {
        SalienceError::format(
            what,
            format!("truncated header: {ndims} dimensions need {body} bytes"),
        )
    })?;
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| SalienceError::format(what, format!("dimensions {dims:?} overflow")))?;
    let data = &bytes[body..];
    if data.len() != count {
        return Err(SalienceError::format(
            what,
            format!(
                "dimensions {dims:?} need {count} values, the file has {} ({})",
                data.len(),
                if data.len() < count {
                    "truncated"
                } else {
                    "trailing data"
                }
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: data.to_vec(),
    })
}

/// Decompresses `bytes` if they are gzipped (magic `1f 8b`), then parses
/// them with [`parse_idx`].
///
/// ```
/// use std::io::Write;
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gz.write_all(&[0, 0, 8, 1, 0, 0, 0, 1, 9]).unwrap();
/// let a = salience_datasets::idx::parse_idx_maybe_gz(&gz.finish().unwrap(), "labels").unwrap();
/// assert_eq!(a.data, vec![9]);
/// ```
pub fn parse_idx_maybe_gz(bytes: &[u8], what: &str) -> Result<IdxArray> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| SalienceError::format(what, format!("bad gzip stream: {e}")))?;
        parse_idx(&out, what)
    } else {
        parse_idx(bytes, what)
    }
}

/// Reads an IDX file, gzipped or plain (detected from its first bytes).
///
/// Errors: [`salience_core::SalienceError::DatasetMissing`] (naming the Debian package
/// `dataset-fashion-mnist`) when the file does not exist,
/// [`salience_core::SalienceError::Io`] when it cannot be read, [`salience_core::SalienceError::Format`] when it
/// is malformed.
///
/// ```
/// let e = salience_datasets::idx::read_idx_file("/nonexistent/t10k-labels-idx1-ubyte.gz").unwrap_err();
/// assert!(e.to_string().contains("dataset-fashion-mnist"));
/// ```
pub fn read_idx_file(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SalienceError::DatasetMissing {
                path: path.to_path_buf(),
                package: crate::FASHION_MNIST_PACKAGE,
            }
        } else {
            SalienceError::io("reading", path.to_path_buf(), e)
        }
    })?;
    parse_idx_maybe_gz(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, IDX_U8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn parses_images_and_labels() {
        let data: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8).collect();
        let a = parse_idx(&idx_bytes(&[2, 3, 4], &data), "images").unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        // Dimensions above 255 use all four big-endian bytes.
        let big = vec![1u8; 300];
        let a = parse_idx(&idx_bytes(&[300], &big), "labels").unwrap();
        assert_eq!(a.dims, vec![300]);
    }

    #[test]
    fn rejects_malformed_buffers() {
        let good = idx_bytes(&[2, 2], &[1, 2, 3, 4]);
        let mut bad_magic = good.clone();
        bad_magic[0] = 1;
        let mut bad_type = good.clone();
        bad_type[2] = 0x0D;
        let zero_dims = vec![0u8, 0, 8, 0];
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("magic", bad_magic),
            ("type", bad_type),
            ("zero dims", zero_dims),
            ("short", vec![0, 0]),
            ("truncated header", good[..6].to_vec()),
            ("truncated data", good[..good.len() - 1].to_vec()),
            ("trailing", [good.clone(), vec![9]].concat()),
        ];
        for (name, bytes) in cases {
            match parse_idx(&bytes, "x") {
                Err(SalienceError::Format { .. }) => {}
                other => panic!("{name}: expected a format error, got {other:?}"),
            }
        }
    }

    #[test]
    fn reads_gzipped_and_plain_files() {
        let dir = std::env::temp_dir().join(format!("salience-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bytes = idx_bytes(&[3], &[4, 5, 6]);
        let plain = dir.join("labels-idx1-ubyte");
        std::fs::write(&plain, &bytes).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).unwrap();
        let gzp = dir.join("labels-idx1-ubyte.gz");
        std::fs::write(&gzp, gz.finish().unwrap()).unwrap();
        assert_eq!(read_idx_file(&plain).unwrap().data, vec![4, 5, 6]);
        assert_eq!(read_idx_file(&gzp).unwrap().data, vec![4, 5, 6]);
        // A corrupt gzip stream is a format error.
        std::fs::write(&gzp, [0x1f, 0x8b, 0, 1, 2]).unwrap();
        assert!(matches!(
            read_idx_file(&gzp),
            Err(SalienceError::Format { .. })
        ));
        let missing = dir.join("absent.gz");
        match read_idx_file(&missing) {
            Err(SalienceError::DatasetMissing { path, package }) => {
                assert_eq!(path, missing);
                assert_eq!(package, "dataset-fashion-mnist");
            }
            other => panic!("expected DatasetMissing, got {other:?}"),
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
