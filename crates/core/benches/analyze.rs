//! What reading one image costs (`enrich::analyze`: format, size, transparency, brightness and
//! the difference hash), on pictures of the sizes the crawls meet: median of 15 runs each.
//!
//! Run: `cargo bench -p image-chat-core --bench analyze`.

use std::io::Cursor;
use std::time::{Duration, Instant};

use image::{ImageFormat, Rgb, RgbImage};

fn encode(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    // A gradient, so the encoders have some work and the hash some structure.
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 120]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encoding to memory");
    out.into_inner()
}

fn main() {
    for (w, h) in [(4096, 3072), (1200, 800), (400, 300)] {
        for format in [ImageFormat::Png, ImageFormat::Jpeg] {
            let bytes = encode(w, h, format);
            let mut runs: Vec<Duration> = (0..15)
                .map(|_| {
                    let t = Instant::now();
                    let facts = image_chat_core::enrich::analyze(&bytes).expect("an image");
                    assert!(facts.dhash.is_some());
                    t.elapsed()
                })
                .collect();
            runs.sort();
            println!(
                "{w}x{h} {format:?} ({} KB): analyze median {:.2} ms",
                bytes.len() / 1024,
                runs[runs.len() / 2].as_secs_f64() * 1e3
            );
        }
    }
}
