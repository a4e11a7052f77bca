//! A local fixture-site server for image-chat's tests and benchmarks, so nothing ever crawls the
//! internet:
//!
//! - **generated sites** of up to 50,000 pages with realistic image markup (srcset, picture,
//!   lazy loading, CSS backgrounds, og:image, figures, tracking pixels, icons, repeated logos,
//!   broken links, redirects), deterministic by seed, with a ground-truth list of the images
//!   each page holds ([`site::GeneratedSite::truth`]);
//! - **mirrored folders** such as `../shared/data/sites/sanctuaries.marinebon.org/`, with the
//!   site's absolute origin rewritten to the server's own address;
//! - **misbehaving endpoints** under `/trap/` (slow, endless redirects, huge bodies, wrong
//!   content types, 429 with Retry-After, 5xx, link traps);
//! - a **hostile site** ([`hostile::HostileServer`]): pages and pictures built to exhaust a
//!   crawler's memory and CPU, each with the outcome it must record.
//!
//! Start one with [`FixtureServer::start`], or from the command line with
//! `cargo run -p image-chat-fixtures -- serve --pages 1000`.

pub mod captions;
pub mod folder;
pub mod hostile;
pub mod images;
pub mod js_site;
pub mod ports;
pub mod postgres_db;
pub mod postgres_server;
pub mod redis_server;
pub mod rng;
pub mod scripted;
pub mod server;
pub mod shared;
pub mod site;
pub mod skip;
pub mod traps;
pub mod truth;

pub use ports::refused_port;
pub use server::{FixtureConfig, FixtureServer, SiteKind};
pub use site::{GeneratedSite, SiteSpec};
pub use truth::{Markup, PageTruth, RejectReason, TruthImage, TruthReject};
