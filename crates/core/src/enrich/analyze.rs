//! What an image's bytes tell: the real format (by its magic bytes, not its URL), pixel size,
//! transparency, mean brightness, and a 64-bit difference hash (dHash) that stays the same when
//! the picture is scaled or re-encoded, so one photo under two URLs is found to be one.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

pub use crate::model::{SAME_PICTURE_BITS, distance};

use super::ImageFacts;
use crate::memory_budget::MemoryBudget;
use crate::model::ImageFormat;

/// Largest picture decoded, in pixels per side, pixels in all, and bytes of memory. Larger ones
/// get their size from the header only (decoding 50 megapixels costs about a second).
const MAX_SIDE: u32 = 12_000;
const MAX_PIXELS: u64 = 24_000_000;
const MAX_ALLOC: u64 = 256 << 20;

/// The format the bytes are in, whatever the URL or Content-Type says.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    let head = &bytes[..bytes.len().min(512)];
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(ImageFormat::Gif)
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some(ImageFormat::Webp)
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" && (&head[8..12] == b"avif" || &head[8..12] == b"avis") {
        Some(ImageFormat::Avif)
    } else {
        let text = String::from_utf8_lossy(head).to_ascii_lowercase();
        let text = text.trim_start_matches('\u{feff}').trim_start();
        (text.starts_with("<svg") || (text.starts_with("<?xml") && text.contains("<svg"))).then_some(ImageFormat::Svg)
    }
}

/// Analyses an image. `None` when the bytes are not an image we can read; vector and AVIF
/// images get their format only. Decodes within the process's [`MemoryBudget`].
pub fn analyze(bytes: &[u8]) -> Option<ImageFacts> {
    analyze_within(bytes, MemoryBudget::decodes())
}

/// [`analyze`], holding the picture's decoded size from `budget` while it is decoded.
pub fn analyze_within(bytes: &[u8], budget: &MemoryBudget) -> Option<ImageFacts> {
    let format = sniff(bytes)?;
    let mut facts = ImageFacts {
        format,
        width: None,
        height: None,
        bytes: bytes.len() as u64,
        transparent: None,
        luma: None,
        dhash: None,
    };
    if matches!(format, ImageFormat::Svg | ImageFormat::Avif) {
        return Some(facts);
    }
    let header = ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok().and_then(|r| r.into_dimensions().ok());
    // The magic bytes say image, the header is unreadable: the format is all we know.
    let Some((w, h)) = header else { return Some(facts) };
    facts.width = Some(w);
    facts.height = Some(h);
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Some(facts);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    // A picture that does not decode (cut off, or over the limits) still has the header's size.
    let Ok(decoder) = reader.into_decoder() else { return Some(facts) };
    // The decoded picture, and the thumbnail and hash copies made from it (a fraction of it).
    let held = budget.hold(decoder.total_bytes().saturating_add(decoder.total_bytes() / 8));
    let Ok(img) = DynamicImage::from_decoder(decoder) else { return Some(facts) };
    if img.width() == 0 || img.height() == 0 {
        return Some(facts);
    }
    // Brightness, transparency and the hash from a small copy: the same answer at a fraction of
    // the cost (hashing the full picture took half the analysis of a 12-megapixel one).
    let thumb = super::small_copy::small_copy(&img);
    let small = thumb.to_rgba8();
    let pixels = small.pixels().count().max(1) as u64;
    let luma: u64 =
        small.pixels().map(|p| (u64::from(p[0]) * 299 + u64::from(p[1]) * 587 + u64::from(p[2]) * 114) / 1000).sum();
    facts.luma = Some((luma / pixels) as u8);
    facts.transparent = Some(img.color().has_alpha() && small.pixels().any(|p| p[3] < 250));
    facts.dhash = Some(dhash(&thumb));
    drop(img);
    drop(held);
    Some(facts)
}

/// Difference hash: the picture shrunk to 9×8 grey pixels, one bit per horizontal neighbour
/// pair (is the left one brighter?).
fn dhash(img: &image::DynamicImage) -> u64 {
    let grey = img.resize_exact(9, 8, image::imageops::FilterType::Triangle).to_luma8();
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            hash = (hash << 1) | u64::from(grey.get_pixel(x, y)[0] > grey.get_pixel(x + 1, y)[0]);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat as Codec, Rgba, RgbaImage};

    fn encode(img: &RgbaImage, codec: Codec) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        match codec {
            Codec::Jpeg => image::DynamicImage::ImageRgba8(img.clone()).to_rgb8().write_to(&mut out, codec).unwrap(),
            _ => img.write_to(&mut out, codec).unwrap(),
        }
        out.into_inner()
    }

    /// A diagonal gradient with a dark disc: structure a hash can see.
    fn picture(w: u32, h: u32, alpha: u8) -> RgbaImage {
        RgbaImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let disc = (fx - 0.3).powi(2) + (fy - 0.6).powi(2) < 0.04;
            let v = if disc { 20 } else { (255.0 * (fx + fy) / 2.0) as u8 };
            Rgba([v, v / 2, 255 - v, alpha])
        })
    }

    #[test]
    fn the_same_picture_scaled_and_reencoded_hashes_alike() {
        let big = analyze(&encode(&picture(640, 480, 255), Codec::Png)).unwrap();
        let small_jpeg = analyze(&encode(&picture(160, 120, 255), Codec::Jpeg)).unwrap();
        assert_eq!((big.format, big.width, big.height), (ImageFormat::Png, Some(640), Some(480)));
        assert_eq!((small_jpeg.format, small_jpeg.width), (ImageFormat::Jpeg, Some(160)));
        let d = distance(big.dhash.unwrap(), small_jpeg.dhash.unwrap());
        assert!(d <= SAME_PICTURE_BITS, "same picture, {d} bits apart");

        let mut other = picture(640, 480, 255);
        image::imageops::flip_horizontal_in_place(&mut other);
        let other = analyze(&encode(&other, Codec::Png)).unwrap();
        let d = distance(big.dhash.unwrap(), other.dhash.unwrap());
        assert!(d > SAME_PICTURE_BITS, "a different picture, only {d} bits apart");
    }

    #[test]
    fn transparency_and_brightness() {
        let clear = analyze(&encode(&picture(50, 50, 0), Codec::Png)).unwrap();
        assert_eq!(clear.transparent, Some(true));
        let opaque = analyze(&encode(&picture(50, 50, 255), Codec::Png)).unwrap();
        assert_eq!(opaque.transparent, Some(false));
        let black = analyze(&encode(&RgbaImage::from_pixel(20, 20, Rgba([5, 5, 5, 255])), Codec::Png)).unwrap();
        let white = analyze(&encode(&RgbaImage::from_pixel(20, 20, Rgba([250, 250, 250, 255])), Codec::Png)).unwrap();
        assert!(black.luma.unwrap() < 20 && white.luma.unwrap() > 230);
    }

    #[test]
    fn formats_by_their_bytes_and_garbage_is_no_image() {
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            Some(ImageFormat::Svg)
        );
        assert_eq!(analyze(b"<svg width=\"10\"></svg>").unwrap().format, ImageFormat::Svg);
        assert_eq!(sniff(b"GIF89a...."), Some(ImageFormat::Gif));
        assert!(analyze(b"<html>not an image</html>").is_none());
        assert!(analyze(b"").is_none());
        // A PNG whose pixel data is cut off: the header still gives its size.
        let png = encode(&picture(300, 200, 255), Codec::Png);
        let cut = analyze(&png[..60]).unwrap();
        assert_eq!((cut.format, cut.width, cut.height, cut.dhash), (ImageFormat::Png, Some(300), Some(200), None));
        // A header claiming an enormous picture is not decoded.
        let mut huge = png.clone();
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(analyze(&huge).unwrap().dhash.is_none());
    }

    #[test]
    fn concurrent_decodes_of_deep_pictures_stay_within_the_budget() {
        // 16-bit RGBA: 8 bytes a pixel, so 1000×1000 decodes to 8 MB (a 24-megapixel one, 192 MB).
        let deep = image::ImageBuffer::<Rgba<u16>, Vec<u16>>::from_fn(1000, 1000, |x, y| {
            Rgba([(x * 60) as u16, (y * 60) as u16, 30_000, 65_535])
        });
        let mut png = Cursor::new(Vec::new());
        deep.write_to(&mut png, Codec::Png).unwrap();
        let png = std::sync::Arc::new(png.into_inner());
        let budget = std::sync::Arc::new(MemoryBudget::new(10 << 20));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (png, budget) = (png.clone(), budget.clone());
                std::thread::spawn(move || analyze_within(&png, &budget).unwrap())
            })
            .collect();
        for t in threads {
            let facts = t.join().unwrap();
            assert_eq!((facts.width, facts.height), (Some(1000), Some(1000)));
            assert!(facts.dhash.is_some(), "each was decoded in its turn");
        }
        assert!(budget.high_water() >= 8_000_000, "a decode held its decoded size");
        assert!(budget.high_water() <= 10 << 20, "never more than the budget at once");
    }
}
