//! The error type of salience-data.

use salience_core::SalienceError;
use std::path::PathBuf;

/// Result alias of salience-data.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// The Debian package that ships Fashion-MNIST.
pub const FASHION_MNIST_PACKAGE: &str = "dataset-fashion-mnist";

/// Every error a salience-data function can return. Converts into
/// [`SalienceError`] with `?`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A dataset file is not there.
    #[error(
        "dataset file {path} not found: install the Debian package `{package}` \
         (apt-get install {package}) or point SALIENCE_FASHION_MNIST to a folder with the IDX files"
    )]
    DatasetMissing {
        /// The file that was looked for.
        path: PathBuf,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// Reading a file failed for another reason than its absence.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file or buffer is not what it claims to be (bad magic number,
    /// dimensions that disagree with the length, inconsistent files).
    #[error("malformed {what}: {reason}")]
    Format {
        /// Which file or buffer.
        what: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// A parameter or argument is invalid (range, shape, empty input).
    #[error(transparent)]
    Invalid(#[from] SalienceError),
    /// A candle operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// An image file cannot be decoded ([`crate::image_file`]).
    #[error("image {path}: {fault}: {detail}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        fault: ImageFault,
        /// The decoder's or the check's words.
        detail: String,
    },
    /// Files of an image folder cannot be read ([`crate::ImageFolder`]):
    /// every one of them, with its reason.
    #[error("{} file(s) in {folder} cannot be read: {}", files.len(), list_files(files))]
    UnreadableImages {
        /// The folder.
        folder: PathBuf,
        /// Each unreadable file and why.
        files: Vec<(PathBuf, String)>,
    },
}

/// What is wrong with an image file ([`DataError::Image`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageFault {
    /// The file has zero bytes, or is not a regular file.
    Empty,
    /// The data ends before the image does.
    Truncated,
    /// The data is not a valid PNG or JPEG.
    Corrupt,
    /// Not PNG or JPEG, or a variant of them the decoder does not support.
    Unsupported,
    /// The header declares more pixels (or the file has more bytes) than
    /// the cap of [`crate::LoadOptions`].
    TooLarge,
}

impl std::fmt::Display for ImageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageFault::Empty => "empty file",
            ImageFault::Truncated => "truncated",
            ImageFault::Corrupt => "corrupt",
            ImageFault::Unsupported => "unsupported format",
            ImageFault::TooLarge => "too large",
        })
    }
}

fn list_files(files: &[(PathBuf, String)]) -> String {
    let v: Vec<String> = files
        .iter()
        .map(|(p, why)| format!("{} ({why})", p.display()))
        .collect();
    v.join("; ")
}

impl DataError {
    /// Shorthand for [`DataError::Format`].
    pub fn format(what: impl Into<String>, reason: impl Into<String>) -> Self {
        DataError::Format {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

impl From<DataError> for SalienceError {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Invalid(s) => s,
            DataError::DatasetMissing { path, .. } => {
                let message = e_message(&path);
                SalienceError::Io {
                    action: "reading",
                    path,
                    message,
                }
            }
            DataError::Io { path, source } => SalienceError::Io {
                action: "reading",
                path,
                message: source.to_string(),
            },
            DataError::Format { what, reason } => {
                SalienceError::invalid(&what, "file contents", &reason)
            }
            DataError::Candle(c) => SalienceError::Backend(c.to_string()),
            DataError::Image {
                path,
                fault,
                detail,
            } => SalienceError::Io {
                action: "reading",
                path,
                message: format!("{fault}: {detail}"),
            },
            DataError::UnreadableImages { folder, files } => SalienceError::Io {
                action: "reading",
                path: folder,
                message: list_files(&files),
            },
        }
    }
}

fn e_message(path: &std::path::Path) -> String {
    DataError::DatasetMissing {
        path: path.to_path_buf(),
        package: FASHION_MNIST_PACKAGE,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dataset_names_the_package_and_path() {
        let e = DataError::DatasetMissing {
            path: PathBuf::from("/nowhere/x.gz"),
            package: FASHION_MNIST_PACKAGE,
        };
        let s = e.to_string();
        assert!(
            s.contains("dataset-fashion-mnist") && s.contains("/nowhere/x.gz"),
            "{s}"
        );
        let s: SalienceError = e.into();
        assert!(s.to_string().contains("dataset-fashion-mnist"));
    }
}
