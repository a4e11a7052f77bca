//! `image` values of JSON-LD blocks (`<script type="application/ld+json">`): a URL string, an
//! array of them, or an `ImageObject` with `url`/`contentUrl`, at any depth.

/// JSON-LD blocks larger than this are skipped.
pub const MAX_JSONLD_BYTES: usize = 256 * 1024;
const MAX_IMAGES: usize = 50;

/// Image URLs with the caption/name an `ImageObject` gives, if any.
pub fn image_urls(json: &str) -> Vec<(String, String)> {
    if json.len() > MAX_JSONLD_BYTES {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else { return Vec::new() };
    let mut out = Vec::new();
    walk(&value, &mut out, 0);
    out
}

fn walk(value: &serde_json::Value, out: &mut Vec<(String, String)>, depth: usize) {
    use serde_json::Value;
    if depth > 32 || out.len() >= MAX_IMAGES {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "image" || key == "thumbnailUrl" || key == "logo" {
                    image_value(v, out, depth + 1);
                } else {
                    walk(v, out, depth + 1);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, out, depth + 1)),
        _ => {}
    }
}

fn image_value(value: &serde_json::Value, out: &mut Vec<(String, String)>, depth: usize) {
    use serde_json::Value;
    if depth > 32 || out.len() >= MAX_IMAGES {
        return;
    }
    match value {
        Value::String(url) => out.push((url.clone(), String::new())),
        Value::Array(items) => items.iter().for_each(|v| image_value(v, out, depth + 1)),
        Value::Object(map) => {
            let text = ["caption", "name", "description"]
                .iter()
                .find_map(|k| map.get(*k).and_then(Value::as_str))
                .unwrap_or("")
                .to_string();
            match map.get("url").or_else(|| map.get("contentUrl")).and_then(Value::as_str) {
                Some(url) => out.push((url.to_string(), text)),
                None => walk(value, out, depth + 1),
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_arrays_and_image_objects() {
        let json = r#"{"@context":"https://schema.org","@graph":[{"@type":"Article","image":["/a.jpg","/b.jpg"]},
            {"@type":"Product","image":{"@type":"ImageObject","contentUrl":"/c.jpg","caption":"A red kayak"}}]}"#;
        let urls = image_urls(json);
        assert_eq!(
            urls,
            vec![("/a.jpg".into(), "".into()), ("/b.jpg".into(), "".into()), ("/c.jpg".into(), "A red kayak".into())]
        );
        assert!(image_urls("{not json").is_empty());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(image_urls(&deep).is_empty());
    }
}
