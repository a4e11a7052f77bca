//! Real image bytes for the fixture sites, sized as their URLs say (`/img/name-800x600.jpg`),
//! so a browser shows them and an enricher can read true dimensions and formats.
//!
//! JPEGs are solid grey (a hand-written baseline JPEG is a few bytes per 8x8 block), PNGs solid
//! colour; `.webp` URLs are answered with PNG bytes, as some CDNs do, which a format sniffer must
//! notice.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// Largest side served; larger requests are clamped.
pub const MAX_SIDE: u32 = 4096;

/// A 1x1 transparent GIF.
pub const GIF_1X1: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBody {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The image a fixture path names, or `None` for a path that is not one.
pub fn for_path(path: &str, query: Option<&str>) -> Option<ImageBody> {
    let name = path.rsplit('/').next()?;
    let (stem, ext) = name.rsplit_once('.')?;
    let seed = fnv(path);
    if path.starts_with("/px/") || path.starts_with("/t/") || name == "spacer.gif" {
        return Some(ImageBody { content_type: "image/gif", bytes: GIF_1X1.to_vec() });
    }
    if path.starts_with("/icons/") {
        return Some(svg(24, 24, seed));
    }
    if path == crate::site::LOGO_PATH {
        return Some(png(240, 60, seed));
    }
    let (w, h) = if path.starts_with("/cdn/") {
        let w = query_param(query?, "w")?.parse::<u32>().ok()?;
        (w, w * 3 / 4)
    } else {
        let dims = stem.rsplit('-').next()?;
        let (w, h) = dims.split_once('x')?;
        (w.parse().ok()?, h.parse().ok()?)
    };
    let (w, h) = (w.clamp(1, MAX_SIDE), h.clamp(1, MAX_SIDE));
    match ext {
        "jpg" | "jpeg" => Some(ImageBody { content_type: "image/jpeg", bytes: jpeg_grey(w, h, seed) }),
        "png" | "webp" => Some(png(w, h, seed)),
        "svg" => Some(svg(w, h, seed)),
        "gif" => Some(ImageBody { content_type: "image/gif", bytes: GIF_1X1.to_vec() }),
        _ => None,
    }
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v)
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn svg(w: u32, h: u32, seed: u64) -> ImageBody {
    let body = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#{:06x}\"/></svg>",
        seed & 0xff_ffff
    );
    ImageBody { content_type: "image/svg+xml", bytes: body.into_bytes() }
}

/// A solid-colour RGB PNG.
pub fn png(w: u32, h: u32, seed: u64) -> ImageBody {
    let rgb = [(seed >> 16) as u8, (seed >> 8) as u8, seed as u8];
    ImageBody { content_type: "image/png", bytes: solid_png(w, h, [8, 2], &rgb) }
}

/// A solid-colour 16-bit RGBA PNG: eight bytes a pixel once decoded (6000×4000 is 192 MB),
/// a few hundred KB as sent.
pub fn png_rgba16(w: u32, h: u32) -> Vec<u8> {
    solid_png(w, h, [16, 6], &[0x40, 0x00, 0x80, 0x00, 0xC0, 0x00, 0xFF, 0xFF])
}

/// A PNG of one `pixel` repeated, of the given bit depth and colour type. Written a row at a
/// time, so making it costs no more memory than the file.
fn solid_png(w: u32, h: u32, [depth, colour]: [u8; 2], pixel: &[u8]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[depth, colour, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    let mut row = vec![0u8; 1 + pixel.len() * w as usize];
    for px in row[1..].chunks_exact_mut(pixel.len()) {
        px.copy_from_slice(pixel);
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    for _ in 0..h {
        z.write_all(&row).expect("writing to a Vec cannot fail");
    }
    let idat = z.finish().expect("writing to a Vec cannot fail");
    png_chunk(&mut out, b"IDAT", &idat);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A solid-grey baseline JPEG. With every AC coefficient zero and one DC difference, each 8x8
/// block after the first costs two bits, so even 4096x4096 stays small.
pub fn jpeg_grey(w: u32, h: u32, seed: u64) -> Vec<u8> {
    // DC difference of the first block, in Huffman category 10 (|v| in 512..=1023): light or
    // dark grey. Quantisation is 1 everywhere, so the mean level is 128 + v / 8.
    let magnitude = 512 + (seed % 512) as i32;
    let v = if seed & 0x8000 == 0 { magnitude } else { -magnitude };
    let mut bits = BitWriter::default();
    bits.put(0b10, 2); // DC category 10
    let raw = if v >= 0 { v as u32 } else { (v + 1023) as u32 };
    bits.put(raw, 10);
    bits.put(0, 1); // EOB
    let blocks = u64::from(w.div_ceil(8)) * u64::from(h.div_ceil(8));
    for _ in 1..blocks {
        bits.put(0b00, 2); // DC difference 0, then EOB
    }
    let scan = bits.finish();

    let mut out = vec![0xFF, 0xD8];
    out.extend_from_slice(&[0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
    out.extend_from_slice(&[0xFF, 0xDB, 0, 67, 0x00]);
    out.extend_from_slice(&[1u8; 64]);
    let (hb, wb) = ((h as u16).to_be_bytes(), (w as u16).to_be_bytes());
    out.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, hb[0], hb[1], wb[0], wb[1], 1, 1, 0x11, 0]);
    // DC table 0: symbol 0 has code `0`, symbol 10 has code `10`.
    out.extend_from_slice(&[0xFF, 0xC4, 0, 21, 0x00, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x0A]);
    // AC table 0: only EOB, code `0`.
    out.extend_from_slice(&[0xFF, 0xC4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00]);
    out.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]);
    out.extend_from_slice(&scan);
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    acc: u32,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                self.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    /// Entropy-coded 0xFF bytes are followed by a stuffed 0x00.
    fn push(&mut self, byte: u8) {
        self.bytes.push(byte);
        if byte == 0xFF {
            self.bytes.push(0x00);
        }
    }

    /// Pads the last byte with one-bits, as the format requires.
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            let pad = 8 - self.n;
            let byte = ((self.acc << pad) | ((1 << pad) - 1)) as u8;
            self.push(byte);
        }
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn png_header_carries_the_size_from_the_url() {
        let img = for_path("/img/x-640x480.png", None).unwrap();
        assert_eq!(img.content_type, "image/png");
        assert_eq!(&img.bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!((u32_at(&img.bytes, 16), u32_at(&img.bytes, 20)), (640, 480));
    }

    #[test]
    fn webp_urls_get_png_bytes() {
        let img = for_path("/img/x-64x48.webp", None).unwrap();
        assert_eq!(&img.bytes[1..4], b"PNG");
    }

    #[test]
    fn jpeg_frame_carries_the_size_and_ends_properly() {
        let img = for_path("/img/p1k2-1600x1200.jpg", None).unwrap();
        let b = &img.bytes;
        assert_eq!(&b[..2], &[0xFF, 0xD8]);
        assert_eq!(&b[b.len() - 2..], &[0xFF, 0xD9]);
        let sof = b.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let h = u16::from_be_bytes([b[sof + 5], b[sof + 6]]);
        let w = u16::from_be_bytes([b[sof + 7], b[sof + 8]]);
        assert_eq!((w, h), (1600, 1200));
        // 30,000 blocks at 2 bits each, plus headers.
        assert!(b.len() < 8_000, "{}", b.len());
    }

    #[test]
    fn cdn_width_parameter_and_clamping() {
        let img = for_path("/cdn/x.png", Some("w=400&fm=png")).unwrap();
        assert_eq!((u32_at(&img.bytes, 16), u32_at(&img.bytes, 20)), (400, 300));
        let big = for_path("/img/x-99999x10.png", None).unwrap();
        assert_eq!(u32_at(&big.bytes, 16), MAX_SIDE);
    }

    #[test]
    fn non_image_paths_are_none() {
        for p in ["/img/x.jpg", "/img/x-axb.jpg", "/img/x-10x10.exe", "/page/1", "/cdn/x.jpg"] {
            assert!(for_path(p, None).is_none(), "{p}");
        }
        assert_eq!(for_path("/px/t.gif", Some("p=1")).unwrap().bytes, GIF_1X1);
    }
}
