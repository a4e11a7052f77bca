// Crawling and extraction allocate a great deal; mimalloc measured faster than glibc's here.
#[cfg(feature = "ssr")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    image_chat::cli::run().await
}

/// The binary is only meaningful with the `ssr` feature; the `hydrate` build is the wasm library.
#[cfg(not(feature = "ssr"))]
fn main() {}
