use std::time::Instant;
fn main() {
    let dir = std::path::Path::new("../shared/data/html/readability");
    let mut rows = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().map_or(true, |e| e != "html") { continue; }
        let html = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        let url = url::Url::parse("http://pages.test/x.html").unwrap();
        let mut tp = f64::MAX; let mut te = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now(); let d = scraper::Html::parse_document(&html); drop(d); tp = tp.min(t.elapsed().as_secs_f64());
            let t = Instant::now(); let r = image_chat_core::extract::extract(&html, &url); drop(r); te = te.min(t.elapsed().as_secs_f64());
        }
        rows.push((te - tp, te, tp, p.file_name().unwrap().to_string_lossy().to_string(), html.len()));
    }
    rows.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    let (se, sp): (f64, f64) = rows.iter().fold((0.0, 0.0), |a, r| (a.0 + r.1, a.1 + r.2));
    println!("total extract {:.1} ms parse {:.1} ms", se * 1e3, sp * 1e3);
    for r in rows.iter().take(12) { println!("{:>8.2} ms extra  extract {:>7.2} parse {:>7.2}  {} ({} B)", r.0 * 1e3, r.1 * 1e3, r.2 * 1e3, r.3, r.4); }
}
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
