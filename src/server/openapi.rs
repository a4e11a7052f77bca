//! The OpenAPI document, generated from the handlers' annotations and the API types, then held
//! to what the server accepts: the limits this server was started with, required fields
//! without defaults, and every pattern list's items (schemathesis checks the document against
//! the server: docs/reliability.md).

use serde_json::{Value, json};
use utoipa::OpenApi;

use super::routes;
use image_chat_core::Settings;
use image_chat_core::search::PartKind;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "image-chat",
        description = "Crawl a website and find its images by describing them. Errors are \
                       `{\"error\": {\"code\", \"message\"}}` with a real HTTP status."
    ),
    paths(
        routes::start_crawl,
        routes::crawl_status,
        routes::cancel_crawl,
        routes::chat,
        routes::sessions,
        routes::health,
        routes::cache_health
    ),
    components(schemas(crate::types::ProgressUpdate, crate::types::IndexedUpdate, crate::types::PageUpdate))
)]
pub struct ApiDoc;

/// The document for a server running with `settings`.
pub fn document(settings: &Settings) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    let crawler = &settings.crawler;
    if let Some(form) = doc.pointer_mut("/components/schemas/CrawlForm") {
        // `url` is required: the document's `""` default from the struct's Default is no default.
        remove_default(form, "url");
        set(form, "/properties/url", json!({"maxLength": image_chat_core::crawl::MAX_URL_LEN}));
        set(form, "/properties/max_pages", json!({"minimum": 1, "maximum": crawler.max_pages_limit}));
        set(form, "/properties/max_depth", json!({"minimum": 0, "maximum": crawler.max_depth_limit}));
        let pattern = json!({
            "type": "string",
            "maxLength": image_chat_core::session::request::MAX_PATTERN_LEN,
            // No control characters (C0, DEL, C1): the server refuses them.
            "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
        });
        for list in ["include", "exclude"] {
            set(
                form,
                &format!("/properties/{list}"),
                json!({"maxItems": image_chat_core::session::request::MAX_PATTERNS, "items": pattern}),
            );
        }
    }
    if let Some(chat) = doc.pointer_mut("/components/schemas/ChatRequest") {
        remove_default(chat, "message");
        set(chat, "/properties/message", json!({"maxLength": image_chat_core::search::parse::MAX_QUERY_CHARS}));
        set(chat, "/properties/limit", json!({"minimum": 1, "maximum": image_chat_core::search::engine::MAX_LIMIT}));
        // A message that says something, or a chip to take away from a conversation's request
        // (the server answers 400 to anything else).
        set(
            chat,
            "",
            json!({
                "anyOf": [
                    {"required": ["message"], "properties": {"message": {"pattern": "\\S"}}},
                    {
                        "required": ["remove", "conversation_id"],
                        "properties": {"remove": {"type": "object"}, "conversation_id": {"type": "string", "minLength": 16}},
                    },
                ],
                // A chip is taken from a conversation's request: `remove` needs its id.
                "if": {"required": ["remove"], "properties": {"remove": {"type": "object"}}},
                "then": {
                    "required": ["conversation_id"],
                    "properties": {"conversation_id": {"type": "string", "minLength": 16}},
                },
            }),
        );
    }
    if let Some(chip) = doc.pointer_mut("/components/schemas/ChipRef/properties/kind") {
        set(chip, "", json!({"enum": PartKind::CHIPS.map(PartKind::name)}));
    }
    doc
}

fn remove_default(schema: &mut Value, field: &str) {
    if let Some(p) = schema.pointer_mut(&format!("/properties/{field}")).and_then(Value::as_object_mut) {
        p.remove("default");
    }
}

/// Merges `values` into the object at `at` (a JSON pointer) of `schema`.
fn set(schema: &mut Value, at: &str, values: Value) {
    if let (Some(Value::Object(target)), Value::Object(values)) = (schema.pointer_mut(at), values) {
        target.extend(values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_carries_this_servers_limits_and_no_default_for_required_fields() {
        let mut settings = Settings::default();
        settings.crawler.max_pages_limit = 123;
        let doc = document(&settings);
        let form = &doc["components"]["schemas"]["CrawlForm"];
        assert_eq!(form["properties"]["max_pages"]["maximum"], 123);
        assert_eq!(form["properties"]["include"]["maxItems"], image_chat_core::session::request::MAX_PATTERNS);
        assert!(form["properties"]["url"].get("default").is_none(), "{form}");
        assert!(form["required"].as_array().is_some_and(|r| r.iter().any(|f| f == "url")), "{form}");
        let chat = &doc["components"]["schemas"]["ChatRequest"];
        assert!(chat["properties"]["message"].get("default").is_none(), "{chat}");
        assert_eq!(chat["properties"]["limit"]["maximum"], 100);
        assert_eq!(chat["properties"]["message"]["maxLength"], 1000);
        assert_eq!(form["properties"]["url"]["maxLength"], 2048);
        assert_eq!(chat["then"]["required"][0], "conversation_id");
        assert_eq!(chat["anyOf"][0]["properties"]["message"]["pattern"], "\\S");
    }
}
