//! JavaScript rendering on the user's path: a crawl of the scripted fixture site started
//! through `POST /crawl`, its images found by chat with `found_by`, the counters in the
//! session, the render mode checked, and `/health`'s browser component.

mod common;

use common::{data_dir, spawn_in};
use image_chat_core::render::find_executable;
use image_chat_fixtures::scripted::{self, ScriptedSite};
use image_chat_fixtures::skip::{Need, skip};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_gallery_is_rendered_and_found_by_chat() {
    if let Err(e) = find_executable(None) {
        return skip(Need::Service, &e.to_string());
    }
    let site = ScriptedSite::start(1).await.unwrap();
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |s| s.crawler.analyze_images = false).await;

    let (status, health) = app.get("/health").await;
    assert_eq!(status, 200);
    let browser = health["components"].as_array().unwrap().iter().find(|c| c["name"] == "browser").unwrap();
    assert_eq!(browser["state"], "ok", "{browser}");

    let (status, body) = app.post("/crawl", json!({"url": site.url("/"), "render": "sometimes"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("render:"), "{body}");

    let (status, body) = app.post("/crawl", json!({"url": site.url("/"), "max_pages": 10, "render": "auto"})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["session_id"].as_str().unwrap().to_string();
    let events = app.events(&id).await;
    let (_, finished) = events.iter().find(|(n, _)| n == "finished").expect("a finished event");
    let counters = &finished["session"]["counters"];
    let counters = if counters.is_null() { &finished["counters"] } else { counters };
    assert!(counters["pages_rendered"].as_u64().unwrap_or(0) >= 2, "{finished}");
    assert!(counters["images_from_render"].as_u64().unwrap_or(0) >= scripted::GALLERY_IMAGES as u64, "{finished}");

    let (path, alt) = scripted::gallery().remove(0);
    let (status, answer) = app.post("/chat", json!({"message": alt, "session_id": id, "limit": 5})).await;
    assert_eq!(status, 200, "{answer}");
    let hit = common::hit_for(&answer, &path).unwrap_or_else(|| panic!("{path} ({alt}) not in {answer}"));
    assert_eq!(hit["found_by"], "render", "{hit}");

    // A page the server sent with its images is found as sent.
    let (_, answer) =
        app.post("/chat", json!({"message": "the team in front of the workshop", "session_id": id})).await;
    let hit = common::hit_for(&answer, "/img/team-1200x800.jpg").unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(hit["found_by"], "html");
}
