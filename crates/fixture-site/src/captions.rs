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

/// Who or what a built-in caption shows, what it does and where: combined, they give
/// [`BUILTIN_LEN`] distinct captions, so a generated site has as many distinct pictures and alt
/// texts without `shared/data` as with it (its ground truth holds either way).
const SUBJECTS: &[&str] = &[
    "a red kayak",
    "a golden retriever puppy",
    "an old lighthouse",
    "a vintage bicycle",
    "a humpback whale",
    "a steaming cup of coffee",
    "an orange cat",
    "a wooden cabin",
    "a marine biologist",
    "two children with a kite",
    "a hiker with a backpack",
    "a bowl of fresh strawberries",
    "a sea turtle",
    "a chef in a white apron",
    "a row of wind turbines",
    "a field of tall sunflowers",
    "a flock of seagulls",
    "a scientist with a microscope",
    "a bride and groom",
    "an elderly fisherman",
    "a yellow school bus",
    "a stack of old books",
    "a snowboarder in a blue jacket",
    "a herd of wild horses",
    "a glass greenhouse",
    "a diver with an underwater camera",
    "a pair of hiking boots",
    "a street musician with a violin",
    "a hot air balloon",
    "a family of ducks",
    "a vegetable garden",
    "a steam locomotive",
    "a sailing yacht",
    "a barn owl",
    "a pile of autumn leaves",
    "a coral reef",
    "a skateboarder",
    "a plate of pasta with basil",
    "a wooden pier",
    "a lonely oak tree",
];

const ACTIONS: &[&str] = &[
    "resting",
    "standing still",
    "seen from above",
    "in soft morning light",
    "half hidden in fog",
    "under heavy rain",
    "casting a long shadow",
    "reflected in still water",
    "framed by green leaves",
    "surrounded by tourists",
    "lit by street lamps",
    "covered in fresh snow",
    "in a black and white photograph",
    "drawn as a pencil sketch",
    "painted in watercolour",
    "caught in mid motion",
    "photographed up close",
    "shown in a wide panorama",
    "beside a red door",
    "next to a stone wall",
    "in front of a cafe",
    "behind a wooden fence",
    "under a starry night sky",
    "at the edge of a cliff",
    "among tall grass",
    "during a summer festival",
    "after a thunderstorm",
    "in the late afternoon sun",
    "under a cloudless blue sky",
];

const PLACES: &[&str] = &[
    "on a mountain lake",
    "on a windy beach",
    "in a busy city square",
    "in a quiet village",
    "near a fishing harbour",
    "in a national park",
    "on a frozen river",
    "in a desert canyon",
    "at a farmers market",
    "in a pine forest",
    "on a tropical island",
    "beside a country road",
    "in a botanical garden",
    "on a rocky coastline",
    "in an old town",
    "at a train station",
    "in a vineyard",
    "on a snowy hillside",
    "by a waterfall",
    "in a school library",
    "at dusk in the harbour",
    "in a research lab",
    "on a rooftop terrace",
    "at a mountain pass",
    "in a kelp forest",
    "on a sandy bay",
    "in the suburbs",
    "at the river mouth",
    "in a bamboo grove",
    "on an island ferry",
    "in a flower meadow",
];

/// Distinct built-in captions.
pub const BUILTIN_LEN: usize = 40 * 29 * 31;

/// The built-in caption number `i` (< [`BUILTIN_LEN`]). The three lists' lengths are pairwise
/// coprime, so consecutive numbers differ in every part and each number names one combination
/// (Chinese remainder theorem).
fn builtin_caption(i: usize) -> String {
    format!("{} {} {}", SUBJECTS[i % SUBJECTS.len()], ACTIONS[i % ACTIONS.len()], PLACES[i % PLACES.len()])
}

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
        Self { texts: Arc::new((0..BUILTIN_LEN).map(builtin_caption).collect()), source: "built-in list".into() }
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
        let Some(path) = crate::skip::shared_or_skip(CONCEPTUAL_CAPTIONS) else { return };
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

    #[test]
    fn builtin_captions_are_all_distinct() {
        let c = Captions::builtin();
        let distinct: std::collections::HashSet<&str> = (0..c.len() as u64).map(|i| c.get(i)).collect();
        assert_eq!(distinct.len(), BUILTIN_LEN);
        assert_eq!((SUBJECTS.len(), ACTIONS.len(), PLACES.len()), (40, 29, 31), "BUILTIN_LEN and coprimality");
        // Neighbours share no part, so images placed side by side are told apart by every word.
        assert!(!c.get(1).starts_with("a red kayak") && !c.get(1).ends_with("on a mountain lake"));
    }
}
