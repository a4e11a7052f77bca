//! The small copy of a picture that its brightness, transparency and hash are read from: what
//! `image`'s `thumbnail(64, 64)` makes, pixel for pixel, computed a row at a time over the raw
//! bytes of 8-bit pictures. `image`'s own loop reads one pixel at a time through its generic
//! accessors, and in a crawl with analysis it took more CPU than decoding the pictures (9% of
//! the process in `perf`, against 4% for the JPEG and PNG decoders).

use image::{DynamicImage, ImageBuffer, Pixel};

/// Longest side of the copy.
pub const SIDE: u32 = 64;

/// `img.thumbnail(SIDE, SIDE)`: the same size and the same pixels.
pub fn small_copy(img: &DynamicImage) -> DynamicImage {
    let (w, h) = (img.width(), img.height());
    let (nw, nh) = fit(w, h);
    let fast = match img {
        DynamicImage::ImageLuma8(b) => shrink(b, nw, nh).map(DynamicImage::ImageLuma8),
        DynamicImage::ImageLumaA8(b) => shrink(b, nw, nh).map(DynamicImage::ImageLumaA8),
        DynamicImage::ImageRgb8(b) => shrink(b, nw, nh).map(DynamicImage::ImageRgb8),
        DynamicImage::ImageRgba8(b) => shrink(b, nw, nh).map(DynamicImage::ImageRgba8),
        // Deeper pictures (16-bit, float) are rare on the web: `image` makes their copy.
        _ => None,
    };
    fast.unwrap_or_else(|| img.thumbnail(SIDE, SIDE))
}

/// The size `thumbnail` gives: within SIDE × SIDE, the aspect kept (as `image` rounds it).
fn fit(w: u32, h: u32) -> (u32, u32) {
    let ratio = f64::min(f64::from(SIDE) / f64::from(w.max(1)), f64::from(SIDE) / f64::from(h.max(1)));
    let side = |len: u32| ((f64::from(len) * ratio).round() as u64).clamp(1, u64::from(u32::MAX)) as u32;
    (side(w), side(h))
}

/// The source rows (or columns) each output row (or column) averages, as `thumbnail` reckons
/// them (in f32, ends rounded up); `None` when one would be empty (an enlargement, which
/// `thumbnail` interpolates instead).
fn spans(len: u32, new_len: u32) -> Option<Vec<(usize, usize)>> {
    if new_len == 0 || new_len > len {
        return None;
    }
    let ratio = len as f32 / new_len as f32;
    (0..new_len)
        .map(|o| {
            let lowf = o as f32 * ratio;
            let highf = lowf + ratio;
            let low = (lowf.ceil() as u32).min(len - 1);
            let high = (highf.ceil() as u32).clamp(low, len);
            (low != high).then_some((low as usize, high as usize))
        })
        .collect()
}

/// Box averages of an 8-bit picture of `C` channels, rounded as `thumbnail` rounds them.
fn shrink<P: Pixel<Subpixel = u8>>(img: &ImageBuffer<P, Vec<u8>>, nw: u32, nh: u32) -> Option<ImageBuffer<P, Vec<u8>>> {
    let raw = match P::CHANNEL_COUNT {
        1 => average::<1>(img.as_raw(), img.width(), img.height(), nw, nh)?,
        2 => average::<2>(img.as_raw(), img.width(), img.height(), nw, nh)?,
        3 => average::<3>(img.as_raw(), img.width(), img.height(), nw, nh)?,
        4 => average::<4>(img.as_raw(), img.width(), img.height(), nw, nh)?,
        _ => return None,
    };
    ImageBuffer::from_raw(nw, nh, raw)
}

fn average<const C: usize>(raw: &[u8], w: u32, h: u32, nw: u32, nh: u32) -> Option<Vec<u8>> {
    let (columns, rows) = (spans(w, nw)?, spans(h, nh)?);
    let stride = w as usize * C;
    if raw.len() < stride * h as usize {
        return None;
    }
    let mut out = Vec::with_capacity(nw as usize * nh as usize * C);
    let mut sums = vec![[0u64; C]; columns.len()];
    for &(top, bottom) in &rows {
        sums.iter_mut().for_each(|s| *s = [0; C]);
        for row in raw[top * stride..bottom * stride].chunks_exact(stride) {
            for (sum, &(left, right)) in sums.iter_mut().zip(&columns) {
                let mut acc = [0u64; C];
                for px in row[left * C..right * C].chunks_exact(C) {
                    for c in 0..C {
                        acc[c] += u64::from(px[c]);
                    }
                }
                for c in 0..C {
                    sum[c] += acc[c];
                }
            }
        }
        for (sum, &(left, right)) in sums.iter().zip(&columns) {
            let n = ((right - left) * (bottom - top)) as u64;
            out.extend(sum.iter().map(|&s| ((s + n / 2) / n).min(255) as u8));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pixels that differ everywhere, so any misplaced block shows.
    fn noisy(w: u32, h: u32) -> image::RgbaImage {
        let mut state = 0x2545_f491_4f6c_dd1du64 ^ u64::from(w * 31 + h);
        image::RgbaImage::from_fn(w, h, |_, _| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            image::Rgba(state.to_le_bytes()[..4].try_into().unwrap())
        })
    }

    #[test]
    fn the_copy_is_thumbnails_pixel_for_pixel() {
        for (w, h) in
            [(4096, 3072), (1200, 800), (800, 1200), (640, 64), (300, 200), (97, 61), (65, 64), (129, 3), (5000, 7)]
        {
            let rgba = DynamicImage::ImageRgba8(noisy(w, h));
            for img in [
                DynamicImage::ImageLuma8(rgba.to_luma8()),
                DynamicImage::ImageLumaA8(rgba.to_luma_alpha8()),
                DynamicImage::ImageRgb8(rgba.to_rgb8()),
                rgba.clone(),
            ] {
                let (ours, theirs) = (small_copy(&img), img.thumbnail(SIDE, SIDE));
                assert_eq!(ours.color(), theirs.color());
                assert_eq!((ours.width(), ours.height()), (theirs.width(), theirs.height()), "{w}x{h}");
                assert!(ours.as_bytes() == theirs.as_bytes(), "{w}x{h} {:?}", img.color());
            }
        }
    }

    #[test]
    fn small_and_deep_pictures_are_left_to_thumbnail() {
        // Enlarged (interpolated), and 16-bit: `image`'s own copy.
        for img in [
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(noisy(20, 10)).to_rgb8()),
            DynamicImage::ImageRgba16(DynamicImage::ImageRgba8(noisy(300, 200)).to_rgba16()),
        ] {
            assert_eq!(small_copy(&img).as_bytes(), img.thumbnail(SIDE, SIDE).as_bytes());
        }
        assert_eq!(spans(20, 64), None);
        assert_eq!(spans(64, 64).unwrap().len(), 64);
    }
}
