//! Text in the embedded DejaVu Sans, laid out with ab_glyph: widths and kerning for layout,
//! coverage for PNGs and glyph outlines for SVGs, so every chart looks the same on every
//! machine (the SVGs carry their glyphs as paths and need no font at all).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve, PxScale, ScaleFont, point};

/// The regular or bold face; both are embedded by the `dejavu` crate.
pub(super) fn face(bold: bool) -> &'static FontRef<'static> {
    static FACES: OnceLock<[FontRef<'static>; 2]> = OnceLock::new();
    let faces = FACES.get_or_init(|| {
        // The bytes are compiled in and tested to parse, so this cannot fail at run time.
        let load = |bytes| FontRef::try_from_slice(bytes).expect("embedded DejaVu Sans parses");
        [load(dejavu::sans::regular()), load(dejavu::sans::bold())]
    });
    &faces[usize::from(bold)]
}

/// A string laid out at `size` px (ab_glyph's scale: ascent − descent = size): each glyph's
/// pen position from the start, with kerning, and the advance of the whole string.
pub(super) struct Laid {
    pub glyphs: Vec<(GlyphId, f64)>,
    pub width: f64,
}

pub(super) fn layout(text: &str, size: f64, bold: bool) -> Laid {
    let font = face(bold).as_scaled(PxScale::from(size as f32));
    let (mut glyphs, mut x, mut prev) = (Vec::new(), 0.0f64, None);
    for c in text.chars() {
        let id = font.glyph_id(c);
        x += prev.map_or(0.0, |p| f64::from(font.kern(p, id)));
        glyphs.push((id, x));
        x += f64::from(font.h_advance(id));
        prev = Some(id);
    }
    Laid { glyphs, width: x }
}

/// Cap height of DejaVu Sans as a share of the ab_glyph size: anchors "top" and "centre" refer
/// to capitals, so labels line up with tick marks and boxes.
pub(super) const CAP: f64 = 0.626;

/// Pixel coverage of `laid` (laid out at `size`) drawn `scale` times larger with its baseline
/// starting at the origin, as `(x, y, coverage)` with y down; callers rotate and place it.
pub(super) fn coverage(laid: &Laid, scale: f64, size: f64, bold: bool, mut put: impl FnMut(i32, i32, f32)) {
    let font = face(bold);
    for &(id, x) in &laid.glyphs {
        let glyph = id.with_scale_and_position(PxScale::from((size * scale) as f32), point((x * scale) as f32, 0.0));
        if let Some(outlined) = font.outline_glyph(glyph) {
            let min = outlined.px_bounds().min;
            outlined.draw(|gx, gy, c| put(min.x as i32 + gx as i32, min.y as i32 + gy as i32, c));
        }
    }
}

/// Glyph outlines used by one SVG, emitted once each as `<path id>` in font units.
#[derive(Default)]
pub(super) struct GlyphDefs {
    used: BTreeMap<(bool, u16), String>,
}

impl GlyphDefs {
    /// `<g>` drawing `text` with its baseline start at the origin of `transform`.
    pub fn text(&mut self, text: &str, size: f64, bold: bool, fill: &str, transform: &str) -> String {
        let font = face(bold);
        let s = size / f64::from(font.height_unscaled());
        let (label, flip) = (escape(text), -s);
        let mut out =
            format!("<g aria-label=\"{label}\" fill=\"{fill}\" transform=\"{transform} scale({s:.6} {flip:.6})\">");
        for (id, x) in layout(text, size, bold).glyphs {
            let key = (bold, id.0);
            self.used.entry(key).or_insert_with(|| outline_path(font, id));
            if !self.used[&key].is_empty() {
                let _ = write!(out, "<use href=\"#g{}{}\" x=\"{:.0}\"/>", u8::from(bold), id.0, x / s);
            }
        }
        out + "</g>"
    }

    pub fn defs(&self) -> String {
        let mut out = String::from("<defs>");
        for ((bold, id), d) in self.used.iter().filter(|(_, d)| !d.is_empty()) {
            let _ = write!(out, "<path id=\"g{}{id}\" d=\"{d}\"/>", u8::from(*bold));
        }
        out + "</defs>"
    }
}

/// SVG path data of one glyph in font units (y up), empty for blanks.
fn outline_path(font: &FontRef, id: GlyphId) -> String {
    let Some(outline) = font.outline(id) else {
        return String::new();
    };
    let (mut d, mut last) = (String::new(), None);
    let to = |d: &mut String, cmd: &str, pts: &[ab_glyph::Point]| {
        d.push_str(cmd);
        for p in pts {
            let _ = write!(d, "{:.0} {:.0} ", p.x, p.y);
        }
    };
    for curve in &outline.curves {
        let (start, cmd, pts) = match *curve {
            OutlineCurve::Line(a, b) => (a, "L", vec![b]),
            OutlineCurve::Quad(a, c, b) => (a, "Q", vec![c, b]),
            OutlineCurve::Cubic(a, c1, c2, b) => (a, "C", vec![c1, c2, b]),
        };
        if last != Some(start) {
            if last.is_some() {
                d.push('Z');
            }
            to(&mut d, "M", &[start]);
        }
        to(&mut d, cmd, &pts);
        last = pts.last().copied();
    }
    d.push('Z');
    d
}

/// Text for SVG content and attributes.
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
