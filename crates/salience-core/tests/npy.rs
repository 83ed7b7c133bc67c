//! `.npy` reading on hostile files (issue 19): sizes from the header are
//! checked against the file before anything is allocated, the dtype is
//! checked, values are finite, and map names cannot leave the directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{arr1, Array2, ArrayD, IxDyn};
use proptest::prelude::*;
use salience_core::{npy, AttributionBatch, Ensemble, SalienceError};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("salience-npy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A version-1 `.npy` file with the given header fields and raw data.
fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let fo = if fortran { "True" } else { "False" };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {fo}, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

/// Writes `bytes` to `dir/name` and returns `read_array`'s error, as text.
fn read_err(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let p = write(dir, name, bytes);
    match npy::read_array(&p) {
        Ok(a) => panic!("{name} read as {a:?}"),
        Err(e) => e.to_string(),
    }
}

fn f32_le(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Issue 19: a 100-byte file claiming 2^34 f32 elements made the reader
/// allocate 64 GiB and abort; `(2^28, 2^28)` with `<i4` likewise.
#[test]
fn huge_header_shapes_are_errors_not_aborts() {
    let dir = tmp("huge");
    let mut b = npy_bytes("<f4", false, "(17179869184,)", &[]);
    b.resize(100 + b.len() - 64, 0);
    let p = write(&dir, "huge.npy", &b);
    let e = npy::read_array(&p).unwrap_err().to_string();
    assert!(
        e.contains("truncated: header says 68719476736 bytes of data") && e.contains("huge.npy"),
        "{e}"
    );
    assert!(npy::read_batch(&p).is_err());
    let i4 = npy_bytes("<i4", false, "(268435456, 268435456)", &[0; 36]);
    let e = read_err(&dir, "i4.npy", &i4);
    assert!(e.contains("dtype '<i4'") && e.contains("i4.npy"), "{e}");
    // The element count overflows usize.
    let shape = "(18446744073709551615, 18446744073709551615)";
    let e = read_err(&dir, "ovf.npy", &npy_bytes("<f4", false, shape, &[0; 8]));
    assert!(e.contains("overflows"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19: a truncated file said "not a float32/float64 .npy array (I/O
/// error: failed to fill whole buffer)".
#[test]
fn truncated_files_say_how_much_data_is_missing() {
    let dir = tmp("trunc");
    let data = f32_le(&[1.0; 5]);
    let e = read_err(&dir, "t.npy", &npy_bytes("<f4", false, "(2, 3)", &data));
    assert!(e.contains("truncated: header says 24 bytes of data"), "{e}");
    assert!(e.contains("file has 20"), "{e}");
    // A header cut short, and a file too short for the preamble.
    let full = npy_bytes("<f4", false, "(1,)", &f32_le(&[1.0]));
    assert!(read_err(&dir, "h.npy", &full[..30]).contains("truncated"));
    assert!(read_err(&dir, "p.npy", &full[..5]).contains("p.npy"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19: `read_array` passed NaN through while `read_batch` rejected
/// it; f64 1e300 became Inf.
#[test]
fn non_finite_and_out_of_range_values_are_errors_naming_file_and_index() {
    let dir = tmp("nan");
    let p = write(
        &dir,
        "nan.npy",
        &npy_bytes("<f4", false, "(2, 2)", &f32_le(&[0.0, 1.0, f32::NAN, 3.0])),
    );
    for e in [
        npy::read_array(&p).unwrap_err(),
        npy::read_batch(&p).unwrap_err(),
    ] {
        match e {
            SalienceError::NonFinite { context, index, .. } => {
                assert_eq!(index, 2);
                assert!(context.contains("nan.npy"), "{context}");
            }
            other => panic!("{other:?}"),
        }
    }
    let f64s: Vec<u8> = [1.0f64, 1e300]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let e = read_err(&dir, "big.npy", &npy_bytes("<f8", false, "(2,)", &f64s));
    assert!(e.contains("flat index 1") && e.contains("big.npy"), "{e}");
    let f64s: Vec<u8> = [f64::INFINITY]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let p = write(&dir, "inf.npy", &npy_bytes("<f8", false, "(1,)", &f64s));
    assert!(matches!(
        npy::read_array(&p),
        Err(SalienceError::NonFinite { index: 0, .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn f64_big_endian_and_fortran_files_read_as_numpy_would() {
    let dir = tmp("orders");
    let want = ndarray::array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn();
    let be: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect();
    let p = write(&dir, "be.npy", &npy_bytes(">f8", false, "(2, 3)", &be));
    assert_eq!(npy::read_array(&p).unwrap(), want);
    // Fortran order stores columns first.
    let f = f32_le(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    let p = write(&dir, "f.npy", &npy_bytes("<f4", true, "(2, 3)", &f));
    let a = npy::read_array(&p).unwrap();
    assert_eq!(a, want);
    assert!(a.is_standard_layout());
    // A NaN at row 0, column 1 of a Fortran file is row-major index 1.
    let f = f32_le(&[1.0, 4.0, f32::NAN, 5.0, 3.0, 6.0]);
    let p = write(&dir, "fnan.npy", &npy_bytes("<f4", true, "(2, 3)", &f));
    assert!(matches!(
        npy::read_array(&p),
        Err(SalienceError::NonFinite { index: 1, .. })
    ));
    // A 0-d array, and trailing bytes after the data.
    let p = write(
        &dir,
        "s.npy",
        &npy_bytes("<f4", false, "()", &f32_le(&[2.5])),
    );
    assert_eq!(
        npy::read_array(&p).unwrap(),
        ArrayD::from_elem(IxDyn(&[]), 2.5)
    );
    let p = write(
        &dir,
        "tr.npy",
        &npy_bytes("<f4", false, "(1,)", &f32_le(&[2.5, 1.0])),
    );
    assert!(npy::read_array(&p)
        .unwrap_err()
        .to_string()
        .contains("trailing"));
    // What write_array writes reads back.
    let p = dir.join("w.npy");
    let a = arr1(&[0.5f32, -1.0, 3.25]).into_dyn();
    npy::write_array(&p, &a).unwrap();
    assert_eq!(npy::read_array(&p).unwrap(), a);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19: a duplicate map name overwrote another and "../escaped"
/// wrote outside the target directory.
#[test]
fn ensemble_files_stay_inside_the_directory_and_do_not_collide() {
    let root = tmp("escape");
    let dir = root.join("out");
    let b = AttributionBatch::from_tabular(Array2::from_elem((1, 2), 1.0)).unwrap();
    for bad in ["../escaped", "a/b", "a\\b", "", "..", "x\0y", "/abs/x"] {
        let e = Ensemble::new(vec![("ok".into(), b.clone()), (bad.into(), b.clone())]).unwrap();
        let err = npy::write_ensemble_files(&dir, &e).unwrap_err().to_string();
        assert!(err.contains("ensemble map name 1"), "{bad:?}: {err}");
    }
    assert!(!root.join("escaped.npy").exists());
    assert!(
        !dir.exists(),
        "nothing is written before the names are checked"
    );
    let two = AttributionBatch::from_tabular(Array2::from_elem((1, 2), 2.0)).unwrap();
    let dup = Ensemble::new(vec![("m".into(), b.clone()), ("m".into(), two.clone())]).unwrap();
    let err = npy::write_ensemble_files(&dir, &dup)
        .unwrap_err()
        .to_string();
    assert!(err.contains("duplicates map 0"), "{err}");
    let good = Ensemble::new(vec![("m".into(), b.clone()), ("n".into(), two)]).unwrap();
    npy::write_ensemble_files(&dir, &good).unwrap();
    let back = npy::read_ensemble_files(&[dir.join("m.npy"), dir.join("n.npy")]).unwrap();
    assert_eq!(back, good);
    let _ = std::fs::remove_dir_all(&root);
}

fn descr() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<f4".to_string()),
        Just("<f8".to_string()),
        Just(">f4".to_string()),
        Just("<i4".to_string()),
        "[<>|=]?[a-zA-Z][0-9]{1,2}",
    ]
}

fn dim() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..5, Just(1u64 << 28), Just(1u64 << 34), any::<u64>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(256)))]

    /// Arbitrary bytes: never a panic; an error or a finite array.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), magic in any::<bool>()) {
        let dir = std::env::temp_dir().join(format!("salience-npy-prop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut b = if magic { b"\x93NUMPY\x01\x00".to_vec() } else { Vec::new() };
        b.extend_from_slice(&bytes);
        let p = dir.join(format!("b{}.npy", bytes.len()));
        std::fs::write(&p, &b).unwrap();
        if let Ok(a) = npy::read_array(&p) {
            prop_assert!(a.iter().all(|v| v.is_finite()));
        }
    }

    /// Well-formed headers with arbitrary dtypes, shapes (up to 2^64) and
    /// data lengths: an error unless the data matches exactly, then the
    /// array has the header's shape and finite values.
    #[test]
    fn arbitrary_headers_never_panic(
        d in descr(),
        fortran in any::<bool>(),
        shape in proptest::collection::vec(dim(), 0..4),
        data in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        let dir = std::env::temp_dir().join(format!("salience-npy-proph-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = match shape.len() {
            1 => format!("({},)", shape[0]),
            _ => format!("({})", shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
        };
        let p = dir.join("h.npy");
        std::fs::write(&p, npy_bytes(&d, fortran, &text, &data)).unwrap();
        match npy::read_array(&p) {
            Ok(a) => {
                let want: Vec<usize> = shape.iter().map(|&v| v as usize).collect();
                prop_assert_eq!(a.shape(), want.as_slice());
                prop_assert!(a.iter().all(|v| v.is_finite()));
                let item = if d.ends_with('8') { 8 } else { 4 };
                prop_assert_eq!(a.len() * item, data.len());
            }
            Err(e) => prop_assert!(e.to_string().contains("h.npy")),
        }
    }

    /// Round trip of finite arrays through write_array / read_array.
    #[test]
    fn finite_arrays_round_trip(v in proptest::collection::vec(-1e30f32..1e30, 1..40)) {
        let dir = std::env::temp_dir().join(format!("salience-npy-proprt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.npy");
        let a = arr1(&v).into_dyn();
        npy::write_array(&p, &a).unwrap();
        prop_assert_eq!(npy::read_array(&p).unwrap(), a);
    }
}
