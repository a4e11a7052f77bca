//! The OpenAPI document, generated from the handlers' annotations and the API types.

use utoipa::OpenApi;

use super::routes;

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
