//! The ground floor: what an image is (its record, format, shape, tone and analysed facts), the
//! one text cleaning and the vector arithmetic. Everything above — extraction, analysis,
//! embedding, the index, search — speaks these types; this module imports nothing above it.

mod facts;
mod format;
mod record;
pub mod text;
pub mod vector;

pub use facts::{DARK_LUMA, ImageFacts, LIGHT_LUMA, SAME_PICTURE_BITS, distance};
pub use format::{ImageFormat, Orientation, Tone};
pub use record::{
    FoundBy, HEADING_GROUP, ImageContext, ImageRecord, ImageSource, ImageVariant, MAX_FIELD_CHARS, MAX_NEARBY_CHARS,
};
