//! Whether words of a message are about the images (or the results) or describe what is in
//! them. "Large images" asks for a size; "a large brown dog" describes a dog. "5 photos of
//! boats" asks for five results; "three children play football" counts children. "Photos
//! without people" removes results; "a man with no hat" describes a man. The parser consults
//! these before it turns a word into a filter, a count or an exclusion.

/// The nouns that can only mean a picture: in a description, "a vertical banner" or "a large
/// poster on the wall" is a thing in the scene, while "a large photo" is still the picture.
const PICTURE_NOUNS: &[&str] = &[
    "image",
    "images",
    "photo",
    "photos",
    "photograph",
    "photographs",
    "picture",
    "pictures",
    "pic",
    "pics",
    "shot",
    "shots",
    "screenshot",
    "screenshots",
    "wallpaper",
    "wallpapers",
    "version",
    "versions",
    "file",
    "files",
    "ones",
    "result",
    "results",
    "gif",
    "gifs",
    "png",
    "pngs",
    "jpg",
    "jpgs",
    "jpeg",
    "jpegs",
    "svg",
    "svgs",
    "webp",
    "avif",
];

/// Kinds of image that are also things a scene can hold ("a vertical banner", "a large poster
/// on the wall"): in a request they name the images asked for; in a description, the subject.
const IMAGE_KINDS: &[&str] = &[
    "photography",
    "headshot",
    "headshots",
    "banner",
    "banners",
    "logo",
    "logos",
    "icon",
    "icons",
    "poster",
    "posters",
    "map",
    "maps",
    "graphic",
    "graphics",
    "illustration",
    "illustrations",
    "drawing",
    "drawings",
    "diagram",
    "diagrams",
    "chart",
    "charts",
    "infographic",
    "infographics",
    "avatar",
    "avatars",
    "thumbnail",
    "thumbnails",
    "artwork",
    "art",
    "render",
    "renders",
    "scan",
    "scans",
    "sticker",
    "stickers",
    "spinner",
    "spinners",
    "visuals",
    "clipart",
];

/// Words between a filter word and its noun that keep them together ("large square PNG
/// images", "transparent product shots").
const SIZE_AND_SHAPE: &[&str] = &[
    "large",
    "big",
    "huge",
    "high-res",
    "hi-res",
    "hd",
    "4k",
    "transparent",
    "square",
    "landscape",
    "portrait",
    "vertical",
    "horizontal",
    "animated",
    "vector",
    "dark",
    "light",
];

/// A noun that names the images themselves, or the results: a size, shape, format or count
/// word that leads to one is about the image.
pub(super) fn is_image_noun(word: &str) -> bool {
    is_picture_noun(word) || IMAGE_KINDS.contains(&word)
}

pub(super) fn is_picture_noun(word: &str) -> bool {
    PICTURE_NOUNS.contains(&word)
}

/// Whether `word` names the images: in a description (`picture_only`) only a noun that can
/// mean nothing but a picture does ("a vertical banner" is in the scene).
pub(super) fn names_images(word: &str, picture_only: bool) -> bool {
    if picture_only { is_picture_noun(word) } else { is_image_noun(word) }
}

/// Words that say a message is a sentence about a scene rather than a request: verbs and
/// auxiliaries that descriptions use and requests for images do not.
const SENTENCE_WORDS: &[&str] = &[
    "is", "are", "was", "were", "be", "being", "been", "has", "have", "had", "sits", "stands", "runs", "walks",
    "plays", "holds", "looks", "wears", "rides", "jumps", "climbs", "lies", "lays", "smiles", "poses", "stand", "sit",
    "walk", "run", "play", "hold", "jump", "ride", "look", "wear", "wearing",
];

/// A message this long (in words, quoted phrases and request words included) reads as a
/// description however it is worded.
const DESCRIPTION_WORDS: usize = 7;

/// Whether the message reads as a description of a scene (a caption) rather than a short
/// request for images: it has a verb of a sentence, or is long.
pub(super) fn is_descriptive(words: &[&str]) -> bool {
    words.len() >= DESCRIPTION_WORDS || words.iter().any(|w| SENTENCE_WORDS.contains(w))
}

/// Whether the word at `at` leads to an image noun: the noun is one of the next three words,
/// with only size, shape and format words (or at most one other word: "animated loading
/// spinner") between, and no clause boundary.
/// In a description (`picture_only`), only a noun that can mean nothing but a picture counts
/// ([`names_images`]).
pub(super) fn leads_to_image_noun(words: &[(&str, bool)], at: usize, picture_only: bool) -> bool {
    let mut others = 0;
    for &(word, ends_clause) in words.iter().skip(at + 1).take(3) {
        if names_images(word, picture_only) {
            return true;
        }
        if !SIZE_AND_SHAPE.contains(&word) {
            others += 1;
            if others > 1 {
                return false;
            }
        }
        if ends_clause {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<(&str, bool)> {
        s.split(' ').map(|w| (w, false)).collect()
    }

    #[test]
    fn a_size_word_is_about_the_image_only_before_an_image_noun() {
        assert!(leads_to_image_noun(&words("large images"), 0, false));
        assert!(leads_to_image_noun(&words("large square png images"), 0, false));
        assert!(leads_to_image_noun(&words("animated loading spinner"), 0, false));
        assert!(!leads_to_image_noun(&words("large brown dog runs"), 0, false));
        assert!(!leads_to_image_noun(&words("large"), 0, false));
        assert!(!leads_to_image_noun(&words("large brown furry photos"), 0, false));
        // In a description, a banner or poster is a thing in the scene.
        assert!(!leads_to_image_noun(&words("vertical banner"), 0, true));
        assert!(leads_to_image_noun(&words("large photo"), 0, true));
    }

    #[test]
    fn sentences_are_descriptions_requests_are_not() {
        assert!(is_descriptive(&["a", "dog", "is", "running"]));
        assert!(is_descriptive(&"pair of new bright orange modern sneakers isolated".split(' ').collect::<Vec<_>>()));
        assert!(!is_descriptive(&["products", "on", "a", "white", "background"]));
        assert!(!is_descriptive(&["cars", "but", "not", "trucks"]));
    }
}
