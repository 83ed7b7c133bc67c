//! PNG and JPEG files in: one file ([`load_image`], [`decode_image`]) or a
//! folder in lazy batches ([`ImageFolder`]), as `[C, H, W]` f32 in
//! `[0, 1]`, ready for [`crate::ImageTransform`].
//!
//! What a file becomes, as `PIL.Image.open(f).convert("RGB")` (what
//! torchvision's `ImageFolder` does) makes it:
//!
//! | source | [`ColorMode::Rgb`] | [`ColorMode::Gray`] |
//! |---|---|---|
//! | gray, gray+alpha | the gray value in all three channels | the gray value |
//! | RGB, palette | the colours | luma `0.299 R + 0.587 G + 0.114 B` (Pillow's `convert("L")`, same integer rounding on 8-bit data) |
//! | with alpha (RGBA, LA, palette transparency) | alpha **dropped**, not composited | alpha dropped |
//! | 16-bit PNG | `v / 65535` (Pillow instead clips 16-bit gray to 255 and keeps the high byte of 16-bit RGB) | `v / 65535` |
//! | CMYK / YCCK JPEG | converted to RGB by the decoder (zune-jpeg); Pillow's naive conversion differs, see `docs/images.md` | luma of that |
//!
//! 8-bit values become `byte / 255` exactly as `ToTensor` does.
//!
//! **JPEG pixels are libjpeg-turbo's**, byte for byte (what
//! `torchvision.io.decode_image` and Pillow decode): 8-bit Huffman-coded
//! baseline and progressive files, grey or YCbCr with any chroma
//! subsampling, go through this crate's decoder, which reproduces
//! libjpeg-turbo's integer IDCT, "fancy" chroma upsampling and colour
//! conversion (`tests/jpeg_decode.rs` checks 15 layouts; zune-jpeg, the
//! `image` crate's decoder, differs by up to 4/255 on ordinary 4:2:0
//! files). Other JPEGs (CMYK, 12-bit, arithmetic-coded, or whose
//! decoding buffers, 10 to 15 bytes a pixel, would exceed the
//! `max_pixels · 8 + 64 MiB` allocation limit) use zune-jpeg.
//!
//! **EXIF orientation** is ignored by default, as Pillow's `Image.open`
//! and torchvision's `ImageFolder` ignore it (the pixels come out as
//! stored); [`LoadOptions::apply_exif_orientation`] rotates/flips them as
//! a viewer would (`PIL.ImageOps.exif_transpose`).
//!
//! **Limits.** The header's width × height is checked against
//! [`LoadOptions::max_pixels`] (default [`MAX_IMAGE_PIXELS`], Pillow's
//! decompression-bomb threshold) and the file size against
//! [`LoadOptions::max_file_bytes`] before anything is decoded or
//! allocated. Errors are typed: [`salience_core::SalienceError::Io`] for a missing or
//! unreadable file, [`salience_core::SalienceError::Image`] with an [`ImageFault`] for an
//! empty, truncated, corrupt, unsupported or too large one,
//! [`salience_core::SalienceError::UnreadableImages`] listing every failing file of a folder
//! batch.
//!
//! ```
//! use salience_datasets::{ImageFolder, ImageTransform, LoadOptions};
//! # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
//! // a folder of PNG/JPEG files (sorted by name), in batches of 4,
//! // with torchvision's ImageNet evaluation transform
//! let folder = ImageFolder::open(&dir, LoadOptions::default())?;
//! let transform = ImageTransform::torchvision_imagenet();
//! for batch in folder.batches(4, &transform)? {
//!     let batch = batch?; // SalienceError::UnreadableImages names any bad file
//!     assert_eq!(&batch.images.shape()[1..], &[3, 224, 224]);
//!     #[cfg(feature = "candle")] // [n, 3, 224, 224] model input
//!     let _x = batch.tensor(&candle_core::Device::Cpu)?;
//!     # let _ = &batch.paths;
//! }
//! // one file
//! let img = salience_datasets::load_image(dir.join("gray.png"), &LoadOptions::default())?;
//! assert_eq!(img.shape(), &[3, 190, 230]);
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use crate::transform::ImageTransform;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};
use ndarray::{Array3, Array4, Axis};
use salience_core::{ImageFault, Result, SalienceError};
use std::io::{BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

mod jpeg;

/// The default pixel cap ([`LoadOptions::max_pixels`]): Pillow's
/// `Image.MAX_IMAGE_PIXELS` (2^30 / 12, a 1 GiB f32 RGB image); an image
/// whose header declares more pixels is [`ImageFault::TooLarge`] before
/// it is decoded.
pub const MAX_IMAGE_PIXELS: u64 = 89_478_485;

/// The default file-size cap ([`LoadOptions::max_file_bytes`]), 256 MiB.
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;

/// The file-name extensions [`ImageFolder`] keeps by default (compared
/// case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Colour or gray output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMode {
    /// Three channels, R, G, B (Pillow's `convert("RGB")`).
    #[default]
    Rgb,
    /// One channel (Pillow's `convert("L")`).
    Gray,
}

impl ColorMode {
    /// The number of channels: 3 or 1.
    ///
    /// ```
    /// assert_eq!(salience_datasets::ColorMode::Gray.channels(), 1);
    /// ```
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Rgb => 3,
            ColorMode::Gray => 1,
        }
    }
}

/// How [`load_image`] and [`ImageFolder`] read files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// RGB (default) or gray.
    pub color: ColorMode,
    /// The largest width × height accepted (header checked before
    /// decoding); default [`MAX_IMAGE_PIXELS`].
    pub max_pixels: u64,
    /// The largest file accepted, in bytes; default
    /// [`MAX_IMAGE_FILE_BYTES`].
    pub max_file_bytes: u64,
    /// Rotate/flip JPEGs by their EXIF orientation tag (default `false`,
    /// as torchvision's loaders).
    pub apply_exif_orientation: bool,
    /// The extensions [`ImageFolder::open`] keeps (lower case, no dot);
    /// default [`IMAGE_EXTENSIONS`].
    pub extensions: Vec<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            color: ColorMode::Rgb,
            max_pixels: MAX_IMAGE_PIXELS,
            max_file_bytes: MAX_IMAGE_FILE_BYTES,
            apply_exif_orientation: false,
            extensions: IMAGE_EXTENSIONS.iter().map(|e| e.to_string()).collect(),
        }
    }
}

/// Loads a PNG or JPEG file as `[C, H, W]` f32 in `[0, 1]` (C = 3, or 1
/// for [`ColorMode::Gray`]); see the [module docs](self) for the
/// conversions and errors.
///
/// ```
/// use salience_datasets::{load_image, ColorMode, LoadOptions};
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
/// let gray = LoadOptions { color: ColorMode::Gray, ..LoadOptions::default() };
/// assert_eq!(load_image(dir.join("portrait.png"), &gray)?.shape(), &[1, 317, 181]);
/// assert!(load_image(dir.join("missing.png"), &gray).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn load_image(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Array3<f32>> {
    let path = path.as_ref();
    let io = |source: std::io::Error| SalienceError::io("reading", path.to_path_buf(), source);
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(fault(path, ImageFault::Empty, "not a regular file"));
    }
    check_file_size(path, meta.len(), options)?;
    let mut bytes = Vec::new();
    // read at most the cap (the file may grow meanwhile)
    std::fs::File::open(path)
        .map_err(io)?
        .take(options.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    check_file_size(path, bytes.len() as u64, options)?;
    decode_at(path, &bytes, options)
}

/// [`load_image`] on bytes already in memory (`name` appears in errors).
///
/// ```
/// use salience_core::SalienceError;
/// use salience_datasets::{decode_image, ImageFault, LoadOptions};
/// let e = decode_image(b"GIF89a....", "x.gif", &LoadOptions::default()).unwrap_err();
/// assert!(matches!(e, SalienceError::Image { fault: ImageFault::Unsupported, .. }));
/// ```
pub fn decode_image(bytes: &[u8], name: &str, options: &LoadOptions) -> Result<Array3<f32>> {
    let path = Path::new(name);
    check_file_size(path, bytes.len() as u64, options)?;
    decode_at(path, bytes, options)
}

/// The width and height a file's header declares, without decoding it
/// (PNG reads only the header; the JPEG decoder reads the file).
///
/// ```
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
/// assert_eq!(salience_datasets::image_dimensions(dir.join("odd_rgb.png"))?, (301, 257));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn image_dimensions(path: impl AsRef<Path>) -> Result<(u32, u32)> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source: std::io::Error| {
        SalienceError::io("reading", path.to_path_buf(), source)
    })?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(fault(path, ImageFault::Empty, "the file has 0 bytes"));
    }
    let reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(|e| image_error(path, ImageError::IoError(e)))?;
    reader.into_dimensions().map_err(|e| image_error(path, e))
}

fn fault(path: &Path, fault: ImageFault, detail: impl Into<String>) -> SalienceError {
    SalienceError::Image {
        path: path.to_path_buf(),
        fault,
        detail: detail.into(),
    }
}

fn check_file_size(path: &Path, len: u64, options: &LoadOptions) -> Result<()> {
    if len == 0 {
        return Err(fault(path, ImageFault::Empty, "the file has 0 bytes"));
    }
    if len > options.max_file_bytes {
        return Err(fault(
            path,
            ImageFault::TooLarge,
            format!(
                "{len} bytes or more, above LoadOptions::max_file_bytes = {}",
                options.max_file_bytes
            ),
        ));
    }
    Ok(())
}

/// Classifies a decoder error.
fn image_error(path: &Path, e: ImageError) -> SalienceError {
    match e {
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            fault(path, ImageFault::Truncated, io.to_string())
        }
        ImageError::IoError(source) => SalienceError::io("reading", path, source),
        ImageError::Unsupported(u) => fault(path, ImageFault::Unsupported, u.to_string()),
        ImageError::Limits(l) => fault(path, ImageFault::TooLarge, l.to_string()),
        other => {
            let text = other.to_string();
            let lower = text.to_lowercase();
            let truncated = ["eof", "end of", "truncat", "no more data", "not enough"]
                .iter()
                .any(|k| lower.contains(k));
            let kind = if truncated {
                ImageFault::Truncated
            } else {
                ImageFault::Corrupt
            };
            fault(path, kind, text)
        }
    }
}

/// Whether a JPEG stream has an end-of-image marker after its last scan:
/// the decoder accepts a cut stream (filling the rest with grey), Pillow
/// reports "image file is truncated"; so do we. Entropy-coded data cannot
/// hold `FF D9` (a data `FF` is stuffed as `FF 00`).
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(p) => bytes[p..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

fn decode_at(path: &Path, bytes: &[u8], options: &LoadOptions) -> Result<Array3<f32>> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| image_error(path, ImageError::IoError(e)))?;
    let format = reader.format();
    match format {
        Some(ImageFormat::Png) | Some(ImageFormat::Jpeg) => {}
        Some(f) => {
            return Err(fault(
                path,
                ImageFault::Unsupported,
                format!("{f:?} files are not supported (PNG and JPEG are)"),
            ))
        }
        None => {
            return Err(fault(
                path,
                ImageFault::Unsupported,
                "not a PNG or JPEG file (unknown signature)",
            ))
        }
    }
    if format == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(fault(
            path,
            ImageFault::Truncated,
            "the JPEG data ends before its end-of-image marker",
        ));
    }
    let mut decoder = reader.into_decoder().map_err(|e| image_error(path, e))?;
    let (w, h) = decoder.dimensions();
    let pixels = u64::from(w) * u64::from(h);
    if pixels > options.max_pixels {
        return Err(fault(
            path,
            ImageFault::TooLarge,
            format!(
                "the header declares {w}x{h} = {pixels} pixels, above \
                 LoadOptions::max_pixels = {}",
                options.max_pixels
            ),
        ));
    }
    if pixels == 0 {
        return Err(fault(path, ImageFault::Corrupt, format!("a {w}x{h} image")));
    }
    let mut limits = image::Limits::default();
    // 16-bit RGBA is 8 bytes a pixel; leave room for the decoder's buffers
    let max_alloc = options
        .max_pixels
        .saturating_mul(8)
        .saturating_add(64 << 20);
    limits.max_alloc = Some(max_alloc);
    decoder
        .set_limits(limits)
        .map_err(|e| image_error(path, e))?;
    let orientation = if options.apply_exif_orientation {
        decoder.orientation().ok()
    } else {
        None
    };
    // JPEG: libjpeg-turbo's pixels where our decoder covers the file
    // (8-bit Huffman YCbCr / grey), else zune-jpeg's (CMYK, ...).
    let ours = if format == Some(ImageFormat::Jpeg) {
        jpeg::decode(bytes, max_alloc).and_then(|d| {
            let size = (d.width, d.height);
            match d.channels {
                1 => image::GrayImage::from_raw(d.width, d.height, d.pixels)
                    .map(DynamicImage::ImageLuma8),
                _ => image::RgbImage::from_raw(d.width, d.height, d.pixels)
                    .map(DynamicImage::ImageRgb8),
            }
            .filter(|_| size == (w, h))
        })
    } else {
        None
    };
    let mut img = match ours {
        Some(img) => img,
        None => DynamicImage::from_decoder(decoder).map_err(|e| image_error(path, e))?,
    };
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(to_chw(&img, options.color))
}

/// Pillow's `convert("L")` on bytes: ITU-R 601-2 luma in 16-bit fixed point.
fn luma_u8(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16) as u8
}

fn to_chw(img: &DynamicImage, color: ColorMode) -> Array3<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let sixteen = matches!(
        img,
        DynamicImage::ImageLuma16(_)
            | DynamicImage::ImageLumaA16(_)
            | DynamicImage::ImageRgb16(_)
            | DynamicImage::ImageRgba16(_)
    );
    let gray_source = matches!(
        img,
        DynamicImage::ImageLuma8(_)
            | DynamicImage::ImageLumaA8(_)
            | DynamicImage::ImageLuma16(_)
            | DynamicImage::ImageLumaA16(_)
    );
    let grid = |channels: usize, f: &dyn Fn(usize, u32, u32) -> f32| {
        Array3::from_shape_fn((channels, h, w), |(c, i, j)| f(c, j as u32, i as u32))
    };
    match (color, sixteen, gray_source) {
        (ColorMode::Rgb, false, _) => {
            let rgb = img.to_rgb8();
            grid(3, &|c, x, y| f32::from(rgb.get_pixel(x, y)[c]) / 255.0)
        }
        (ColorMode::Rgb, true, _) => {
            let rgb = img.to_rgb16();
            grid(3, &|c, x, y| f32::from(rgb.get_pixel(x, y)[c]) / 65535.0)
        }
        (ColorMode::Gray, false, true) => {
            let l = img.to_luma8();
            grid(1, &|_, x, y| f32::from(l.get_pixel(x, y)[0]) / 255.0)
        }
        (ColorMode::Gray, true, true) => {
            let l = img.to_luma16();
            grid(1, &|_, x, y| f32::from(l.get_pixel(x, y)[0]) / 65535.0)
        }
        (ColorMode::Gray, false, false) => {
            let rgb = img.to_rgb8();
            grid(1, &|_, x, y| {
                let p = rgb.get_pixel(x, y);
                f32::from(luma_u8(p[0], p[1], p[2])) / 255.0
            })
        }
        (ColorMode::Gray, true, false) => {
            let rgb = img.to_rgb16();
            grid(1, &|_, x, y| {
                let p = rgb.get_pixel(x, y);
                let l = 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
                (l / 65535.0) as f32
            })
        }
    }
}

/// The image files of one folder (not its subfolders), sorted by file
/// name, read lazily in batches.
///
/// Only names whose extension is in [`LoadOptions::extensions`] are kept;
/// subfolders are skipped. No path outside the folder is ever read: an
/// entry that is a symbolic link resolving outside the folder makes
/// [`ImageFolder::open`] fail with [`salience_core::SalienceError::UnreadableImages`] naming
/// it.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    root: PathBuf,
    files: Vec<PathBuf>,
    options: LoadOptions,
}

/// One batch of [`ImageFolder::batches`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImageBatch {
    /// `[n, C, H, W]`, the transformed images.
    pub images: Array4<f32>,
    /// The file of each image, in order.
    pub paths: Vec<PathBuf>,
}

impl ImageFolder {
    /// Lists the image files of `root` (see the type's docs). Errors when
    /// `root` is not a readable folder, when no file matches (naming the
    /// extensions), or when an entry leads outside it.
    ///
    /// ```
    /// use salience_datasets::{ImageFolder, LoadOptions};
    /// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    /// let pngs = LoadOptions { extensions: vec!["png".into()], ..LoadOptions::default() };
    /// let folder = ImageFolder::open(&dir, pngs)?;
    /// assert_eq!(folder.files()[0].file_name().unwrap(), "gray.png"); // sorted
    /// assert!(ImageFolder::open(dir.join("nowhere"), LoadOptions::default()).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn open(root: impl AsRef<Path>, options: LoadOptions) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let io = |source: std::io::Error| SalienceError::io("reading", root.clone(), source);
        let canonical_root = root.canonicalize().map_err(io)?;
        let entries = std::fs::read_dir(&root).map_err(io)?;
        let wanted = |p: &Path| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| options.extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
        };
        let mut files = Vec::new();
        let mut outside = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            if !wanted(&path) {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                outside.push((path, "cannot read its file type".to_string()));
                continue;
            };
            if kind.is_dir() {
                continue;
            }
            if kind.is_symlink() {
                match path.canonicalize() {
                    Ok(target) if !target.starts_with(&canonical_root) => {
                        outside.push((
                            path,
                            format!(
                                "a link to {}, outside the folder: not followed",
                                target.display()
                            ),
                        ));
                        continue;
                    }
                    Ok(target) if target.is_dir() => continue,
                    Ok(_) => {}
                    Err(e) => {
                        outside.push((path, format!("a broken link: {e}")));
                        continue;
                    }
                }
            }
            files.push(path);
        }
        if !outside.is_empty() {
            outside.sort();
            return Err(SalienceError::UnreadableImages {
                folder: root,
                files: outside,
            });
        }
        if files.is_empty() {
            return Err(SalienceError::Empty(format!(
                "no file with extension {:?} in {}",
                options.extensions,
                root.display()
            )));
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        Ok(ImageFolder {
            root,
            files,
            options,
        })
    }

    /// The files, sorted by name.
    ///
    /// ```
    /// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    /// let f = salience_datasets::ImageFolder::open(&dir, Default::default())?;
    /// assert!(f.files().windows(2).all(|w| w[0].file_name() < w[1].file_name()));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The number of files.
    ///
    /// ```
    /// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    /// assert_eq!(salience_datasets::ImageFolder::open(&dir, Default::default())?.len(), 9);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Always `false`: [`ImageFolder::open`] refuses an empty folder.
    ///
    /// ```
    /// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    /// assert!(!salience_datasets::ImageFolder::open(&dir, Default::default())?.is_empty());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Reads every file's header (not its pixels) and lists every file
    /// that is unreadable or above the pixel cap in one
    /// [`salience_core::SalienceError::UnreadableImages`]; a cheap check before a long run.
    /// (A file whose header is fine but whose data is cut still fails in
    /// its batch.)
    ///
    /// ```
    /// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    /// salience_datasets::ImageFolder::open(&dir, Default::default())?.check()?;
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn check(&self) -> Result<()> {
        let failures: Vec<(PathBuf, String)> = self
            .files
            .iter()
            .filter_map(|p| {
                let why = match image_dimensions(p) {
                    Ok((w, h)) if u64::from(w) * u64::from(h) > self.options.max_pixels => {
                        format!("{w}x{h} is above max_pixels = {}", self.options.max_pixels)
                    }
                    Ok(_) => return None,
                    Err(e) => e.to_string(),
                };
                Some((p.clone(), why))
            })
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(SalienceError::UnreadableImages {
                folder: self.root.clone(),
                files: failures,
            })
        }
    }

    /// The files in batches of `batch_size`, each loaded (only when the
    /// iterator reaches it: memory does not grow with the number of files)
    /// and transformed by `transform`. A batch with unreadable files is an
    /// `Err(`[`salience_core::SalienceError::UnreadableImages`]`)` listing all of them; the
    /// iteration goes on with the next batch. Images of one batch must
    /// come out the same size (use a centre crop), else the batch is a
    /// [`salience_core::SalienceError::ShapeMismatch`] naming the file.
    ///
    /// ```
    /// use salience_datasets::{ImageFolder, ImageTransform};
    /// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    /// let folder = ImageFolder::open(&dir, Default::default())?;
    /// let small = ImageTransform { resize_shorter: Some(32), center_crop: Some([28, 28]),
    ///     ..ImageTransform::default() };
    /// let sizes: Vec<usize> = folder.batches(4, &small)?.map(|b| b.unwrap().paths.len()).collect();
    /// assert_eq!(sizes, vec![4, 4, 1]);
    /// assert!(folder.batches(0, &small).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn batches<'a>(
        &'a self,
        batch_size: usize,
        transform: &'a ImageTransform,
    ) -> Result<ImageBatches<'a>> {
        if batch_size == 0 {
            return Err(SalienceError::invalid(
                "batch_size",
                0,
                "must be at least 1",
            ));
        }
        Ok(ImageBatches {
            folder: self,
            transform,
            batch_size,
            next: 0,
        })
    }

    fn load_batch(&self, paths: &[PathBuf], transform: &ImageTransform) -> Result<ImageBatch> {
        let mut images: Vec<Array3<f32>> = Vec::with_capacity(paths.len());
        let mut failures = Vec::new();
        for p in paths {
            match load_image(p, &self.options).and_then(|img| transform.apply(img.view())) {
                Ok(x) => images.push(x),
                Err(e) => failures.push((p.clone(), e.to_string())),
            }
        }
        if !failures.is_empty() {
            return Err(SalienceError::UnreadableImages {
                folder: self.root.clone(),
                files: failures,
            });
        }
        let shape = images[0].dim();
        if let Some((i, x)) = images.iter().enumerate().find(|(_, x)| x.dim() != shape) {
            return Err(SalienceError::shape(
                &format!("image batch: {}", paths[i].display()),
                format!("{shape:?} like {} (use a centre crop)", paths[0].display()),
                x.shape(),
            ));
        }
        let views: Vec<_> = images.iter().map(|x| x.view()).collect();
        let images = ndarray::stack(Axis(0), &views)
            .map_err(|e| SalienceError::format("image batch", e.to_string()))?;
        Ok(ImageBatch {
            images,
            paths: paths.to_vec(),
        })
    }
}

/// The lazy iterator of [`ImageFolder::batches`].
#[derive(Debug)]
pub struct ImageBatches<'a> {
    folder: &'a ImageFolder,
    transform: &'a ImageTransform,
    batch_size: usize,
    next: usize,
}

impl Iterator for ImageBatches<'_> {
    type Item = Result<ImageBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let files = &self.folder.files;
        if self.next >= files.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(files.len());
        let paths = &files[self.next..end];
        self.next = end;
        Some(self.folder.load_batch(paths, self.transform))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.folder.files.len() - self.next;
        let n = left.div_ceil(self.batch_size);
        (n, Some(n))
    }
}
