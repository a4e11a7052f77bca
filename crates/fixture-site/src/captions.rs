//! Alt texts for generated sites: real ones from Conceptual Captions when `shared/data` is
//! there, else a small built-in list so the fixture server also works in a user's clone.

use std::path::Path;
use std::sync::Arc;

use crate::shared::shared_file;

pub const CONCEPTUAL_CAPTIONS: &str = "captions/conceptual_captions_val.tsv";

#[derive(Clone, Debug)]
pub struct Captions {
    texts: Arc<Vec<String>>,
    source: String,
}

const BUILTIN: &[&str] = &[
    "a red kayak on a calm mountain lake at sunrise",
    "close-up of a smartwatch showing a heart rate graph",
    "two children flying a kite on a windy beach",
    "a steaming cup of coffee beside an open notebook",
    "aerial view of a coral reef with a sea turtle",
    "a vintage bicycle leaning against a brick wall",
    "snow-covered pine trees under a starry night sky",
    "a chef slicing vegetables in a busy restaurant kitchen",
    "golden retriever puppy playing with a tennis ball",
    "the city skyline reflected in a river at dusk",
    "a hiker standing on a rocky summit above the clouds",
    "fresh strawberries in a wooden bowl on a table",
    "a humpback whale breaching off the coast",
    "an old lighthouse on a cliff during a storm",
    "a laptop and a phone on a white desk, top view",
    "market stalls selling colourful spices",
    "a diver photographing a kelp forest",
    "a bride and groom walking through a vineyard",
    "a black and white portrait of an elderly man",
    "children in school uniforms reading in a library",
    "a vector illustration of a rocket launching",
    "a transparent logo of a leaf on a dark background",
    "a scientist looking through a microscope in a lab",
    "wind turbines on green hills under a blue sky",
    "a plate of pasta with basil and tomatoes",
    "a cyclist racing down a mountain road",
    "seagulls flying over a fishing harbour",
    "a wooden cabin beside a frozen lake",
    "an orange cat sleeping on a windowsill",
    "tall sunflowers in a field at sunset",
    "a marine biologist counting fish on a reef survey",
    "an infographic about ocean temperatures",
];

impl Captions {
    /// Conceptual Captions from `shared/data` when present, else the built-in list.
    pub fn load() -> Self {
        shared_file(CONCEPTUAL_CAPTIONS)
            .and_then(|p| Self::from_tsv(&p).ok())
            .filter(|c| !c.texts.is_empty())
            .unwrap_or_else(Self::builtin)
    }

    /// A `text<TAB>url` file; only the text column is used (the URLs are never fetched).
    pub fn from_tsv(path: &Path) -> std::io::Result<Self> {
        let raw = std::fs::read_to_string(path)?;
        let texts = raw
            .lines()
            .filter_map(|line| line.split('\t').next())
            .map(|t| t.trim().trim_end_matches(" .").trim().to_string())
            .filter(|t| t.len() >= 3)
            .collect();
        Ok(Self { texts: Arc::new(texts), source: path.display().to_string() })
    }

    pub fn builtin() -> Self {
        Self { texts: Arc::new(BUILTIN.iter().map(|s| s.to_string()).collect()), source: "built-in list".into() }
    }

    /// The caption at `i`, wrapping around.
    pub fn get(&self, i: u64) -> &str {
        &self.texts[(i % self.texts.len() as u64) as usize]
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Where the captions came from, for the server's start-up line.
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_captions_load_when_shared_data_is_present() {
        let Some(path) = shared_file(CONCEPTUAL_CAPTIONS) else {
            eprintln!("skipped: ../shared/data/{CONCEPTUAL_CAPTIONS} is absent");
            return;
        };
        let c = Captions::from_tsv(&path).unwrap();
        assert!(c.len() > 15_000, "{}", c.len());
        assert!(!c.get(1).ends_with(" ."), "{}", c.get(1));
        assert!(!c.get(1).contains('\t'));
    }

    #[test]
    fn builtin_list_wraps_around() {
        let c = Captions::builtin();
        assert_eq!(c.get(0), c.get(c.len() as u64));
    }
}
