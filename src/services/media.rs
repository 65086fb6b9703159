//! Pictures and documents on their way in: the type is read from the bytes (never from the
//! name), the platforms' limits are checked, a picture's size is read from its header and a
//! decompression bomb refused before a pixel is decoded, and every picture is decoded and
//! encoded anew, so that nothing of the file but its pixels is kept (EXIF with the GPS position
//! and the camera's serial number, XMP, IPTC, comments, embedded thumbnails). Then it is kept
//! in the store, where every instance can send it.

use std::io::Cursor;
use std::sync::Arc;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

use crate::domain::ChannelKind;
use crate::domain::media::{MediaKind, binding_limit, human_size, platform_name, upload_max};
use crate::store::{MediaInfo, NewMedia, Store, StoreError};

/// Telegram's photo rule: width and height together at most 10,000 pixels.
pub const MAX_SIDES_SUM: u32 = 10_000;
/// Telegram's photo rule: the longer side at most 20 times the shorter.
pub const MAX_RATIO: u32 = 20;
/// The most pixels a picture may have (a 40-megapixel camera); what decoding may allocate
/// follows from it (4 bytes a pixel).
pub const MAX_PIXELS: u64 = 40_000_000;
/// JPEG quality of a picture encoded anew: no visible loss, a phone photo shrinks.
const JPEG_QUALITY: u8 = 88;

/// Why an upload was refused; the text says what to do and names the limit.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the file is empty")]
    Empty,
    #[error(
        "the file is {size}; {platform} takes {what} up to {limit}",
        size = human_size(*bytes),
        limit = human_size(*limit),
        platform = platform_name(*platform)
    )]
    TooLarge {
        bytes: u64,
        limit: u64,
        platform: ChannelKind,
        what: &'static str,
    },
    #[error(
        "only JPEG, PNG and WebP pictures and PDF documents can be sent; this file is {found} (read from its content, not its name)"
    )]
    Unsupported { found: String },
    #[error(
        "the picture has {width} × {height} pixels; the platforms take at most {MAX_SIDES_SUM} pixels for width and height together, at most {MAX_PIXELS} pixels in all, and a side at most {MAX_RATIO} times the other"
    )]
    Dimensions { width: u32, height: u32 },
    #[error("the picture cannot be read: {0}")]
    Unreadable(String),
    #[error("the document is not a readable PDF: {0}")]
    BadPdf(&'static str),
    #[error(
        "the file is {found} but its name '{name}' says {claimed}; check that it is the file you meant (rename it to send it as what it is)"
    )]
    Mismatch {
        found: &'static str,
        name: String,
        claimed: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MediaError {
    /// Whether the caller sent something it should not have (400/413), not a failure of ours.
    pub fn is_input(&self) -> bool {
        !matches!(self, MediaError::Store(_))
    }
}

/// A medium as it will be kept: cleaned, checked.
#[derive(Debug, Clone)]
pub struct Cleaned {
    pub kind: MediaKind,
    pub mime: &'static str,
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Where a file staff sent in the chat is fetched from: the platform it came on.
#[async_trait::async_trait]
pub trait FetchFile: Send + Sync {
    /// The bytes of `file`, refused when more than `max`.
    async fn fetch(
        &self,
        file: &crate::domain::media::ChatFile,
        max: u64,
    ) -> Result<Vec<u8>, String>;
}

/// Takes pictures and documents in and keeps them.
pub struct MediaService {
    store: Arc<dyn Store>,
}

impl MediaService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        MediaService { store }
    }

    /// Checks and cleans `bytes` (off the async threads: decoding takes a while) and keeps the
    /// result. `file_name` is only used for a document's name as recipients see it.
    pub async fn accept(
        &self,
        bytes: Vec<u8>,
        file_name: Option<String>,
        uploaded_by: Option<String>,
    ) -> Result<MediaInfo, MediaError> {
        let cleaned = tokio::task::spawn_blocking(move || clean(&bytes, file_name.as_deref()))
            .await
            .map_err(|e| MediaError::Unreadable(format!("the check stopped: {e}")))??;
        let sha256 = hex::encode(Sha256::digest(&cleaned.bytes));
        let info = self
            .store
            .insert_media(&NewMedia {
                kind: cleaned.kind,
                mime: cleaned.mime.to_string(),
                file_name: cleaned.file_name,
                bytes: cleaned.bytes,
                width: cleaned.width,
                height: cleaned.height,
                sha256,
                created_by: uploaded_by,
            })
            .await?;
        tracing::info!(media = info.id, kind = %info.kind, bytes = info.bytes, "medium kept");
        Ok(info)
    }

    /// A kept medium, if it (still) exists.
    pub async fn info(&self, id: i64) -> Result<Option<MediaInfo>, MediaError> {
        Ok(self.store.media_info(id).await?)
    }
}

/// Reads what `bytes` are, checks them against the limits and, for a picture, decodes and
/// encodes it anew without any metadata.
pub fn clean(bytes: &[u8], file_name: Option<&str>) -> Result<Cleaned, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let max = upload_max();
    if bytes.len() as u64 > max {
        let (limit, platform) = binding_limit(MediaKind::Document);
        return Err(MediaError::TooLarge {
            bytes: bytes.len() as u64,
            limit,
            platform,
            what: "documents",
        });
    }
    let mime = infer::get(bytes).map(|t| t.mime_type());
    // The bytes decide what the file is; a name that says otherwise is a mix-up worth asking
    // about (a PDF where a photo was meant), not a reason to send either.
    let found = match mime {
        Some("application/pdf") => Some(MediaKind::Document),
        Some("image/jpeg" | "image/png" | "image/webp") => Some(MediaKind::Picture),
        _ => None,
    };
    if let (Some(found), Some(name), Some(claimed)) =
        (found, file_name, file_name.and_then(kind_by_name))
        && found != claimed
    {
        let what = |k: MediaKind| match k {
            MediaKind::Picture => "a picture",
            MediaKind::Document => "a PDF document",
        };
        return Err(MediaError::Mismatch {
            found: what(found),
            name: name.chars().take(100).collect(),
            claimed: what(claimed),
        });
    }
    match mime {
        Some("application/pdf") => pdf(bytes, file_name),
        Some("image/jpeg") => picture(bytes, ImageFormat::Jpeg),
        Some("image/png") => picture(bytes, ImageFormat::Png),
        Some("image/webp") => picture(bytes, ImageFormat::WebP),
        // Markup says what it is in its first lines (an SVG drawing, an HTML page).
        Some(other) if other.starts_with("text/") || other.contains("xml") => {
            Err(MediaError::Unsupported {
                found: describe_unknown(bytes),
            })
        }
        Some(other) => Err(MediaError::Unsupported {
            found: other.to_string(),
        }),
        None => Err(MediaError::Unsupported {
            found: describe_unknown(bytes),
        }),
    }
}

/// What a file's name says it is, when its ending names a type we take.
fn kind_by_name(name: &str) -> Option<MediaKind> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "png" | "webp" => Some(MediaKind::Picture),
        "pdf" => Some(MediaKind::Document),
        _ => None,
    }
}

/// What an unknown file looks like, for the error: text (SVG, HTML) or something else.
fn describe_unknown(bytes: &[u8]) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_lowercase();
    if head.contains("<svg") {
        "an SVG drawing".into()
    } else if head.contains("<html") || head.contains("<!doctype html") {
        "an HTML page".into()
    } else if std::str::from_utf8(&bytes[..bytes.len().min(512)]).is_ok() {
        "text".into()
    } else {
        "of an unknown type".into()
    }
}

fn pdf(bytes: &[u8], file_name: Option<&str>) -> Result<Cleaned, MediaError> {
    let (limit, platform) = binding_limit(MediaKind::Document);
    if bytes.len() as u64 > limit {
        return Err(MediaError::TooLarge {
            bytes: bytes.len() as u64,
            limit,
            platform,
            what: "documents",
        });
    }
    // A PDF ends with its trailer; a cut-off upload does not.
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(MediaError::BadPdf("it has no end (%%EOF): cut off?"));
    }
    Ok(Cleaned {
        kind: MediaKind::Document,
        mime: "application/pdf",
        file_name: document_name(file_name),
        bytes: bytes.to_vec(),
        width: None,
        height: None,
    })
}

/// A document's name as recipients see it: the uploaded name's letters, digits, spaces and
/// `._-` (no path), ending in `.pdf`; "Dokument.pdf" when nothing is left.
pub fn document_name(given: Option<&str>) -> String {
    let base = given
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let mut name: String = base
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'))
        .take(100)
        .collect();
    if name.to_lowercase().ends_with(".pdf") {
        name.truncate(name.len() - 4);
    }
    let name = name.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if name.is_empty() {
        "Dokument.pdf".into()
    } else {
        format!("{name}.pdf")
    }
}

fn picture(bytes: &[u8], format: ImageFormat) -> Result<Cleaned, MediaError> {
    let unreadable = |e: image::ImageError| MediaError::Unreadable(e.to_string());
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(unreadable)?;
    // The header's size first: a bomb is refused before anything is allocated for it.
    let (width, height) = decoder.dimensions();
    let (short, long) = (width.min(height), width.max(height));
    if width == 0
        || height == 0
        || width.saturating_add(height) > MAX_SIDES_SUM
        || u64::from(width) * u64::from(height) > MAX_PIXELS
        || long > short.saturating_mul(MAX_RATIO)
    {
        return Err(MediaError::Dimensions { width, height });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDES_SUM);
    limits.max_image_height = Some(MAX_SIDES_SUM);
    limits.max_alloc = Some(MAX_PIXELS * 4 + 16 * 1024 * 1024);
    decoder.set_limits(limits).map_err(unreadable)?;
    // Turned as the camera meant it, since the orientation tag goes with the rest.
    let orientation = decoder.orientation().map_err(unreadable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    let (out, mime) = encode(&image, format)?;
    let (limit, platform) = binding_limit(MediaKind::Picture);
    if out.len() as u64 > limit {
        return Err(MediaError::TooLarge {
            bytes: out.len() as u64,
            limit,
            platform,
            what: "pictures (after metadata removal)",
        });
    }
    Ok(Cleaned {
        kind: MediaKind::Picture,
        mime,
        file_name: if mime == "image/png" {
            "Bild.png".into()
        } else {
            "Bild.jpg".into()
        },
        bytes: out,
        width: Some(image.width()),
        height: Some(image.height()),
    })
}

/// Pixels only: JPEG stays JPEG, PNG stays PNG; WebP (which WhatsApp does not take) becomes
/// PNG when it has transparency, else JPEG.
fn encode(
    image: &DynamicImage,
    format: ImageFormat,
) -> Result<(Vec<u8>, &'static str), MediaError> {
    let failed = |e: image::ImageError| MediaError::Unreadable(format!("encoding anew: {e}"));
    let png = match format {
        ImageFormat::Png => true,
        ImageFormat::WebP => image.color().has_alpha(),
        _ => false,
    };
    let mut out = Vec::new();
    if png {
        image
            .write_with_encoder(image::codecs::png::PngEncoder::new(&mut out))
            .map_err(failed)?;
        Ok((out, "image/png"))
    } else {
        let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
        rgb.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut out,
            JPEG_QUALITY,
        ))
        .map_err(failed)?;
        Ok((out, "image/jpeg"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .expect("encode");
        out
    }

    #[test]
    fn a_png_is_kept_as_png() {
        let c = clean(&png(40, 30), Some("x.png")).expect("accepted");
        assert_eq!((c.kind, c.mime), (MediaKind::Picture, "image/png"));
        assert_eq!((c.width, c.height), (Some(40), Some(30)));
        image::load_from_memory(&c.bytes).expect("still decodes");
    }

    #[test]
    fn the_type_comes_from_the_bytes() {
        let err = clean(
            b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
            Some("a.jpg"),
        )
        .expect_err("refused");
        assert!(err.to_string().contains("SVG"), "{err}");
        let err = clean(b"<!DOCTYPE html><html></html>", Some("a.png")).expect_err("refused");
        assert!(err.to_string().contains("HTML"), "{err}");
        assert!(matches!(clean(b"", None), Err(MediaError::Empty)));
    }

    #[test]
    fn a_truncated_png_is_refused() {
        let full = png(200, 200);
        let err = clean(&full[..full.len() / 2], None).expect_err("refused");
        assert!(matches!(err, MediaError::Unreadable(_)), "{err}");
    }

    /// CRC-32 as PNG chunks carry it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in bytes {
            crc ^= u32::from(*b);
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

    #[test]
    fn a_bomb_is_refused_from_its_header() {
        // A valid PNG header that claims 20,000 × 20,000 pixels: refused before decoding.
        let mut bytes = png(1, 1);
        bytes[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = clean(&bytes, None).expect_err("refused");
        assert!(
            matches!(
                err,
                MediaError::Dimensions {
                    width: 20_000,
                    height: 20_000
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn document_names_keep_no_path() {
        assert_eq!(
            document_name(Some("../../etc/Anordnung 12.PDF")),
            "Anordnung 12.pdf"
        );
        assert_eq!(document_name(Some("<>.pdf")), "Dokument.pdf");
        assert_eq!(document_name(None), "Dokument.pdf");
    }
}
