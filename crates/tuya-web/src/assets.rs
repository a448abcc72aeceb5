//! The page's files, in the binary: it works with no internet and no build step.

const INDEX: &str = include_str!("../assets/index.html");
const APP: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/style.css");

/// A file's text and content type (the page for an unknown name).
pub(crate) fn get(name: &str) -> (&'static str, &'static str) {
    match name {
        "app.js" => (APP, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => (INDEX, "text/html; charset=utf-8"),
    }
}
