//! Image files and folders: every mode a loader meets, typed errors for
//! every bad file, a folder read lazily and never outside itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use salience_core::SalienceError;
use salience_datasets::{
    decode_image, load_image, ColorMode, ImageFault, ImageFolder, ImageTransform, LoadOptions,
};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images")
}

/// A fresh, empty scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("salience_images_{}_{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fault_of(e: SalienceError) -> ImageFault {
    match e {
        SalienceError::Image { fault, .. } => fault,
        other => panic!("expected SalienceError::Image, got {other:?}"),
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Appends a PNG chunk (length, type, data, CRC).
fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    png.extend_from_slice(&body);
    png.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG whose IHDR declares `w × h` (valid CRCs), with a tiny IDAT.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn every_mode_becomes_rgb_or_gray_in_unit_range() {
    let rgb = LoadOptions::default();
    let gray = LoadOptions {
        color: ColorMode::Gray,
        ..LoadOptions::default()
    };
    for (file, h, w) in [
        ("odd_rgb.png", 257, 301),
        ("portrait.png", 317, 181),
        ("gray.png", 190, 230),
        ("rgba.png", 149, 203),
        ("gray_alpha.png", 77, 91),
        ("palette.png", 61, 97),
        ("photo.jpg", 133, 171),
        ("cmyk.jpg", 30, 40),
        ("exif_orientation6.jpg", 24, 40),
    ] {
        let x = load_image(fixtures().join(file), &rgb).unwrap();
        assert_eq!(x.shape(), &[3, h, w], "{file}");
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)), "{file}");
        // 8-bit sources: exactly byte / 255
        assert!(x
            .iter()
            .all(|v| ((v * 255.0).round() - v * 255.0).abs() < 1e-3));
        let g = load_image(fixtures().join(file), &gray).unwrap();
        assert_eq!(g.shape(), &[1, h, w], "{file}");
    }
    // gray sources: the three channels are the gray value, and Gray mode
    // returns it unchanged
    let x = load_image(fixtures().join("gray.png"), &rgb).unwrap();
    let g = load_image(fixtures().join("gray.png"), &gray).unwrap();
    assert_eq!(
        x.index_axis(ndarray::Axis(0), 0),
        g.index_axis(ndarray::Axis(0), 0)
    );
    assert_eq!(
        x.index_axis(ndarray::Axis(0), 0),
        x.index_axis(ndarray::Axis(0), 2)
    );
    // RGB -> gray is Pillow's 601 luma (integer rounding)
    let x = load_image(fixtures().join("odd_rgb.png"), &rgb).unwrap();
    let g = load_image(fixtures().join("odd_rgb.png"), &gray).unwrap();
    let b = |c: usize| (x[[c, 100, 50]] * 255.0).round() as u32;
    let want = (b(0) * 19595 + b(1) * 38470 + b(2) * 7471 + 0x8000) >> 16;
    assert_eq!((g[[0, 100, 50]] * 255.0).round() as u32, want);
}

#[test]
fn sixteen_bit_pngs_keep_their_precision() {
    let d = scratch("sixteen");
    let gray = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(5, 3, |x, y| {
        image::Luma([(x * 13_000 + y) as u16])
    });
    gray.save(d.join("g16.png")).unwrap();
    let rgb = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(4, 2, |x, y| {
        image::Rgb([65535, (x * 257 + 1) as u16, (y * 30_000) as u16])
    });
    rgb.save(d.join("rgb16.png")).unwrap();
    let x = load_image(d.join("g16.png"), &LoadOptions::default()).unwrap();
    assert_eq!(x.shape(), &[3, 3, 5]);
    assert_eq!(x[[1, 2, 4]], (4.0 * 13_000.0 + 2.0) / 65535.0);
    let x = load_image(d.join("rgb16.png"), &LoadOptions::default()).unwrap();
    assert_eq!(x[[0, 0, 0]], 1.0);
    assert_eq!(x[[1, 1, 3]], (3.0 * 257.0 + 1.0) / 65535.0);
    // 1/65535 steps survive (Pillow would keep only the high byte)
    assert!(x[[1, 0, 0]] > 0.0 && x[[1, 0, 0]] < 1.0 / 255.0);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn exif_orientation_is_ignored_by_default_and_applied_on_request() {
    let f = fixtures().join("exif_orientation6.jpg");
    let stored = load_image(&f, &LoadOptions::default()).unwrap();
    let rotated = load_image(
        &f,
        &LoadOptions {
            apply_exif_orientation: true,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let (c, h, w) = stored.dim();
    assert_eq!(rotated.dim(), (c, w, h));
    // orientation 6: turn 90° clockwise; displayed (i, j) = stored (h-1-j, i)
    for ch in 0..c {
        for i in 0..w {
            for j in 0..h {
                assert_eq!(rotated[[ch, i, j]], stored[[ch, h - 1 - j, i]]);
            }
        }
    }
}

#[test]
fn bad_files_are_typed_errors_not_panics() {
    let d = scratch("bad");
    let o = LoadOptions::default();
    // missing
    match load_image(d.join("nope.png"), &o).unwrap_err() {
        SalienceError::Io { source, .. } => assert_eq!(source.kind(), std::io::ErrorKind::NotFound),
        other => panic!("{other:?}"),
    }
    // zero bytes
    std::fs::write(d.join("empty.png"), b"").unwrap();
    assert_eq!(
        fault_of(load_image(d.join("empty.png"), &o).unwrap_err()),
        ImageFault::Empty
    );
    // a folder is not an image
    assert_eq!(fault_of(load_image(&d, &o).unwrap_err()), ImageFault::Empty);
    // truncated PNG and JPEG (cut in the middle of the data)
    for f in ["odd_rgb.png", "photo.jpg"] {
        let bytes = std::fs::read(fixtures().join(f)).unwrap();
        let cut = &bytes[..bytes.len() / 2];
        let e = decode_image(cut, f, &o).unwrap_err();
        assert_eq!(fault_of(e), ImageFault::Truncated, "{f}");
        // cut just after the header too
        let e = decode_image(&bytes[..40], f, &o).unwrap_err();
        assert!(
            matches!(fault_of(e), ImageFault::Truncated | ImageFault::Corrupt),
            "{f}"
        );
    }
    // corrupt: PNG signature then garbage; JPEG marker then garbage
    let mut junk = png_header(4, 4);
    junk.extend_from_slice(&[
        0u8, 0, 0, 9, b'I', b'D', b'A', b'T', 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0,
    ]);
    let e = decode_image(&junk, "junk.png", &o).unwrap_err();
    assert!(matches!(
        fault_of(e),
        ImageFault::Corrupt | ImageFault::Truncated
    ));
    let e = decode_image(&[0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3], "junk.jpg", &o).unwrap_err();
    assert!(matches!(
        fault_of(e),
        ImageFault::Corrupt | ImageFault::Truncated
    ));
    // unsupported: GIF, BMP, text
    for (bytes, name) in [
        (&b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"[..], "a.gif"),
        (&b"BM\x00\x00\x00\x00\x00\x00\x00\x00"[..], "a.bmp"),
        (&b"hello, world"[..], "a.txt"),
    ] {
        let e = decode_image(bytes, name, &o).unwrap_err();
        assert_eq!(fault_of(e), ImageFault::Unsupported, "{name}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Absurd headers are refused from the header alone: a PNG claiming
/// 100000 × 100000 (30 GB of RGB) and a JPEG claiming 65535 × 65535 come
/// back as TooLarge at once, without allocating.
#[test]
fn absurdly_large_headers_are_refused_before_decoding() {
    let o = LoadOptions::default();
    let e = decode_image(&png_header(100_000, 100_000), "huge.png", &o).unwrap_err();
    assert_eq!(fault_of(e), ImageFault::TooLarge);
    let mut jpg = std::fs::read(fixtures().join("photo.jpg")).unwrap();
    let sof = jpg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG");
    jpg[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let e = decode_image(&jpg, "huge.jpg", &o).unwrap_err();
    assert_eq!(fault_of(e), ImageFault::TooLarge);
    // a caller's own caps
    let small = LoadOptions {
        max_pixels: 1000,
        ..LoadOptions::default()
    };
    let e = load_image(fixtures().join("odd_rgb.png"), &small).unwrap_err();
    assert!(e.to_string().contains("301x257"), "{e}");
    let tiny_file = LoadOptions {
        max_file_bytes: 100,
        ..LoadOptions::default()
    };
    let e = load_image(fixtures().join("odd_rgb.png"), &tiny_file).unwrap_err();
    assert_eq!(fault_of(e), ImageFault::TooLarge);
    // converts to the workspace error with the path
    let s: salience_core::SalienceError =
        load_image(fixtures().join("odd_rgb.png"), &small).unwrap_err();
    assert!(s.to_string().contains("odd_rgb.png"), "{s}");
}

#[test]
fn folder_lists_sorted_filtered_files_and_names_every_bad_one() {
    let d = scratch("folder");
    for (src, dst) in [
        ("photo.jpg", "b.jpg"),
        ("gray.png", "a.png"),
        ("rgba.png", "C.PNG"),
        ("palette.png", "d.jpeg.png"),
    ] {
        std::fs::copy(fixtures().join(src), d.join(dst)).unwrap();
    }
    std::fs::write(d.join("notes.txt"), "not an image").unwrap();
    std::fs::create_dir(d.join("sub.png")).unwrap(); // a folder named like an image
    let folder = ImageFolder::open(&d, LoadOptions::default()).unwrap();
    let names: Vec<_> = folder
        .files()
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["C.PNG", "a.png", "b.jpg", "d.jpeg.png"]);
    folder.check().unwrap();
    let t = ImageTransform {
        resize_shorter: Some(20),
        center_crop: Some([16, 16]),
        ..ImageTransform::default()
    };
    let batches: Vec<_> = folder.batches(3, &t).unwrap().map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].images.shape(), &[3, 3, 16, 16]);
    assert_eq!(batches[1].paths, vec![d.join("d.jpeg.png")]);
    // the batch equals the images transformed one by one
    let one = t
        .apply(
            load_image(d.join("b.jpg"), &LoadOptions::default())
                .unwrap()
                .view(),
        )
        .unwrap();
    assert_eq!(batches[0].images.index_axis(ndarray::Axis(0), 2), one);

    // bad files: the check and their batch list all of them
    std::fs::write(d.join("e_empty.png"), b"").unwrap();
    let bytes = std::fs::read(fixtures().join("odd_rgb.png")).unwrap();
    std::fs::write(d.join("f_cut.png"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(d.join("g_text.jpg"), "plain text").unwrap();
    let folder = ImageFolder::open(&d, LoadOptions::default()).unwrap();
    match folder.check().unwrap_err() {
        SalienceError::UnreadableImages { files, .. } => {
            let bad: Vec<_> = files.iter().map(|(p, _)| p.file_name().unwrap()).collect();
            // the cut PNG's header is intact: only its batch finds it
            assert_eq!(bad, vec!["e_empty.png", "g_text.jpg"]);
        }
        other => panic!("{other:?}"),
    }
    let results: Vec<_> = folder.batches(4, &t).unwrap().collect();
    assert!(results[0].is_ok());
    match results[1].as_ref().unwrap_err() {
        SalienceError::UnreadableImages { files, .. } => {
            let bad: Vec<_> = files.iter().map(|(p, _)| p.file_name().unwrap()).collect();
            assert_eq!(bad, vec!["e_empty.png", "f_cut.png", "g_text.jpg"]);
            assert!(files[1].1.contains("truncated"), "{}", files[1].1);
        }
        other => panic!("{other:?}"),
    }
    // different sizes without a crop: a shape error naming the file
    let no_crop = ImageTransform::identity();
    let e = folder
        .batches(2, &no_crop)
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("a.png"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn folder_batches_are_read_lazily() {
    let d = scratch("lazy");
    for i in 0..6 {
        std::fs::copy(fixtures().join("palette.png"), d.join(format!("{i}.png"))).unwrap();
    }
    let folder = ImageFolder::open(&d, LoadOptions::default()).unwrap();
    let t = ImageTransform {
        resize_shorter: None,
        center_crop: None,
        ..ImageTransform::default()
    };
    let mut it = folder.batches(2, &t).unwrap();
    assert_eq!(it.size_hint(), (3, Some(3)));
    assert!(it.next().unwrap().is_ok());
    // files of later batches are read only when their batch comes
    std::fs::remove_file(d.join("5.png")).unwrap();
    assert!(it.next().unwrap().is_ok());
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none());
    std::fs::remove_dir_all(&d).unwrap();
}

#[cfg(unix)]
#[test]
fn folder_never_follows_a_link_outside_itself() {
    let d = scratch("links");
    let outside = scratch("links_outside");
    std::fs::copy(fixtures().join("gray.png"), d.join("a.png")).unwrap();
    std::fs::copy(fixtures().join("gray.png"), outside.join("secret.png")).unwrap();
    // a link inside the folder is fine
    std::os::unix::fs::symlink(d.join("a.png"), d.join("b.png")).unwrap();
    assert_eq!(
        ImageFolder::open(&d, LoadOptions::default()).unwrap().len(),
        2
    );
    // one leading outside is refused, by name
    std::os::unix::fs::symlink(outside.join("secret.png"), d.join("c.png")).unwrap();
    match ImageFolder::open(&d, LoadOptions::default()).unwrap_err() {
        SalienceError::UnreadableImages { files, .. } => {
            assert_eq!(files.len(), 1);
            assert_eq!(files[0].0, d.join("c.png"));
            assert!(files[0].1.contains("outside the folder"));
        }
        other => panic!("{other:?}"),
    }
    // an empty folder, or one with no image, is an error too
    let empty = scratch("links_empty");
    assert!(ImageFolder::open(&empty, LoadOptions::default()).is_err());
    for p in [&d, &outside, &empty] {
        std::fs::remove_dir_all(p).unwrap();
    }
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(64)))]

        /// Damaged files (bytes overwritten, then cut anywhere) decode to
        /// an image in [0, 1] or a typed error: never a panic.
        #[test]
        fn damaged_files_never_panic(
            jpeg in any::<bool>(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let name = if jpeg { "photo.jpg" } else { "palette.png" };
            let mut bytes = std::fs::read(fixtures().join(name)).unwrap();
            for (at, v) in edits {
                let i = at.index(bytes.len());
                bytes[i] = v;
            }
            let keep = 1 + cut.index(bytes.len());
            bytes.truncate(keep);
            match decode_image(&bytes, name, &LoadOptions::default()) {
                Ok(x) => prop_assert!(x.iter().all(|v| (0.0..=1.0).contains(v))),
                Err(e) => prop_assert!(matches!(e, SalienceError::Image { .. } | SalienceError::Io { .. }), "{e:?}"),
            }
        }
    }
}
