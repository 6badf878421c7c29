//! `report.html`: an output folder's report as one self-contained page that opens from disk with
//! no network access. It is `report.md` rendered to HTML (pulldown-cmark), with every chart
//! inlined as its SVG (the PNG beside it stays for documents), every table sortable by clicking
//! a column head, further sections (a comparison's input differences) and maps whose units show
//! their name and value on hover (`charts::hover_svg`) in place of the static map.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A map to show interactively: its SVG replaces the image `charts/<stem>.png`.
#[derive(Debug, Clone)]
pub struct HoverMap {
    pub stem: String,
    pub svg: String,
}

/// Writes `report.html` into `dir` (which holds `charts/`). `markdown` is the report; `sections`
/// are further (heading, markdown) parts appended after it. Returns the file's path relative to
/// `dir`.
pub fn write_report(
    dir: &Path,
    title: &str,
    markdown: &str,
    sections: &[(&str, &str)],
    maps: &[HoverMap],
) -> std::io::Result<PathBuf> {
    let page = render(dir, title, markdown, sections, maps);
    let path = dir.join("report.html");
    std::fs::write(&path, page)?;
    Ok(PathBuf::from("report.html"))
}

/// The page: head with the style and the sorting script, the body from the markdown.
pub fn render(dir: &Path, title: &str, markdown: &str, sections: &[(&str, &str)], maps: &[HoverMap]) -> String {
    let mut body = markdown_to_html(dir, markdown, maps);
    for (heading, text) in sections {
        let _ = write!(body, "<section><h2>{}</h2>", escape(heading));
        body.push_str(&markdown_to_html(dir, text, maps));
        body.push_str("</section>");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"migrasim {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(title)
    )
}

/// Markdown → HTML, with images of charts replaced by their inline SVG (a hover map where one
/// is given) inside a figure captioned by the image's text.
fn markdown_to_html(dir: &Path, markdown: &str, maps: &[HoverMap]) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut events = Vec::new();
    let mut image: Option<(String, String)> = None;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match (&mut image, event) {
            (None, Event::Start(Tag::Image { dest_url, .. })) => {
                image = Some((dest_url.to_string(), String::new()));
            }
            (Some((_, alt)), Event::Text(t) | Event::Code(t)) => alt.push_str(&t),
            (Some(_), Event::End(TagEnd::Image)) => {
                let (url, alt) = image.take().expect("inside an image");
                events.push(Event::Html(figure(dir, &url, &alt, maps).into()));
            }
            (Some(_), _) => {}
            // Raw HTML in the markdown is shown as text, never run: reports quote scenario
            // names and descriptions, and a scenario file may come from a stranger.
            (None, Event::Html(t) | Event::InlineHtml(t)) => events.push(Event::Text(t)),
            (None, event) => events.push(event),
        }
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

/// A chart as a figure: the hover map for its stem, else the SVG beside the PNG, else a plain
/// image link (a chart without an SVG).
fn figure(dir: &Path, url: &str, alt: &str, maps: &[HoverMap]) -> String {
    let stem = Path::new(url).file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let svg = maps.iter().find(|m| m.stem == stem).map(|m| m.svg.clone()).or_else(|| {
        let path = dir.join(url).with_extension("svg");
        std::fs::read_to_string(path).ok().map(|text| inline_svg(&text))
    });
    let content = svg.unwrap_or_else(|| format!("<img src=\"{}\" alt=\"{}\">", escape(url), escape(alt)));
    let svg_url = Path::new(url).with_extension("svg");
    format!(
        "<figure class=\"chart\" data-chart=\"{}\" aria-label=\"{}\">{content}<figcaption>Chart files: <a href=\"{}\">PNG</a> · <a href=\"{}\">SVG</a></figcaption></figure>\n",
        escape(stem),
        escape(alt),
        escape(url),
        escape(&svg_url.display().to_string()),
    )
}

/// An SVG file's text made fit to inline: no XML declaration, and scaled to the page's width
/// (its viewBox kept, its fixed width and height dropped).
fn inline_svg(text: &str) -> String {
    let text = text.trim_start();
    let text = match text.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(rest, |(_, r)| r).trim_start(),
        None => text,
    };
    let Some(end) = text.find('>') else {
        return String::new();
    };
    let (open, rest) = text.split_at(end);
    let open: String = open
        .split(' ')
        .filter(|attr| !attr.starts_with("width=") && !attr.starts_with("height="))
        .collect::<Vec<_>>()
        .join(" ");
    format!("{open} class=\"chart-svg\"{rest}")
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "body{margin:0;font:16px/1.5 'DejaVu Sans',system-ui,sans-serif;color:#1b1b1b;background:#fff}main{max-width:1100px;margin:0 auto;padding:1.5rem}h1{font-size:1.7rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}h3{margin-bottom:.3rem}table{border-collapse:collapse;margin:1rem 0;font-size:.86rem;display:block;overflow-x:auto;max-width:100%}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right;white-space:nowrap}th{background:#f0f0f0;cursor:pointer;user-select:none;position:sticky;top:0}th[data-sort=asc]::after{content:' \\25B2'}th[data-sort=desc]::after{content:' \\25BC'}td:first-child,th:first-child{text-align:left}figure.chart{margin:1rem 0}figure.chart svg{width:100%;height:auto;display:block}figure.chart svg.map g:hover>path,figure.chart svg.map g:hover>circle{stroke:#000;stroke-width:1.5}figcaption{font-size:.85rem;color:#555}code{background:#f4f4f4;padding:0 .2rem}";

/// Sorts a table by the clicked column: numbers (with k/M/B suffixes, signs and a leading
/// minus sign "−") numerically, text alphabetically; a second click reverses.
const SCRIPT: &str = r#"(function(){
function key(text){var t=text.trim().replace(/,/g,'').replace(/\u2212/g,'-');var m=t.match(/^([+-]?\d+(?:\.\d+)?)\s*([kMB%]?)/);if(!m)return null;var v=parseFloat(m[1]);var f={k:1e3,M:1e6,B:1e9}[m[2]]||1;return v*f;}
document.querySelectorAll('table').forEach(function(table){
var head=table.tHead;if(!head||!table.tBodies.length)return;
Array.prototype.forEach.call(head.rows[0].cells,function(th,col){
th.title='Sort by this column';
th.addEventListener('click',function(){
var asc=th.getAttribute('data-sort')!=='asc';
Array.prototype.forEach.call(head.rows[0].cells,function(c){c.removeAttribute('data-sort');});
th.setAttribute('data-sort',asc?'asc':'desc');
var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=a.cells[col]?a.cells[col].textContent:'';var y=b.cells[col]?b.cells[col].textContent:'';var kx=key(x),ky=key(y);var c=(kx!==null&&ky!==null)?kx-ky:x.localeCompare(y);return asc?c:-c;});
rows.forEach(function(r){body.appendChild(r);});
});});});
})();"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_inlined_tables_kept_and_text_escaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("charts")).unwrap();
        std::fs::write(
            dir.path().join("charts/gap.svg"),
            "<?xml version=\"1.0\"?>\n<svg width=\"1200\" height=\"750\" viewBox=\"0 0 1200 750\" xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>",
        )
        .unwrap();
        let md = "# Run <a>\n\n<script>alert(1)</script>\n\n| year | rate |\n|---|---|\n| 2024 | 67.1 |\n\n![The gap](charts/gap.png)\n\n![A map](charts/map.png)\n";
        let maps = [HoverMap {
            stem: "map".into(),
            svg: "<svg class=\"map\"><path><title>Chengdu</title></path></svg>".into(),
        }];
        let page = render(dir.path(), "Run & co", md, &[("Inputs", "`a` differs")], &maps);
        assert!(page.contains("<title>Run &amp; co</title>"));
        assert!(page.contains("<h1>Run &lt;a&gt;</h1>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(page.matches("<script>").count(), 1, "only the page's own script");
        assert!(page.contains("<td>67.1</td>"));
        assert!(page.contains("<svg viewBox=\"0 0 1200 750\""), "inline, scalable");
        assert!(!page.contains("width=\"1200\""));
        assert!(page.contains("aria-label=\"The gap\""));
        assert!(page.contains("<a href=\"charts/gap.png\">PNG</a> · <a href=\"charts/gap.svg\">SVG</a>"));
        assert!(page.contains("<title>Chengdu</title>"), "the hover map replaces the image");
        assert!(page.contains("<h2>Inputs</h2>") && page.contains("<code>a</code>"));
        // Nothing is fetched: no external scripts, styles or images.
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
    }
}
