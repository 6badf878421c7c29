//! The drawing surface every chart uses: shapes and text in logical pixels (a 1200×750 chart),
//! drawn either onto plotters' bitmap backend at any resolution or into an SVG document, plus
//! the bookkeeping that keeps legends off the data and the shared legend, box and footer.

use std::fmt::Write as _;

use plotters::prelude::*;
use plotters_backend::{BackendColor, BackendStyle, DrawingBackend};

use super::text::{self, GlyphDefs};
use super::*;

/// A point in logical pixels.
pub type P = (f64, f64);

/// Axis-aligned rectangle in logical pixels, `x0 <= x1`, `y0 <= y1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    pub fn new(x0: f64, y0: f64, x1: f64, y1: f64) -> Self {
        Rect { x0: x0.min(x1), y0: y0.min(y1), x1: x0.max(x1), y1: y0.max(y1) }
    }
    pub fn around((x, y): P, r: f64) -> Self {
        Rect::new(x - r, y - r, x + r, y + r)
    }
    pub fn intersects(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
    pub fn contains(&self, (x, y): P) -> bool {
        (self.x0..=self.x1).contains(&x) && (self.y0..=self.y1).contains(&y)
    }
    pub fn mid(&self) -> P {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }
    pub fn corners(&self) -> [P; 5] {
        let (a, b, c, d) = ((self.x0, self.y0), (self.x1, self.y0), (self.x1, self.y1), (self.x0, self.y1));
        [a, b, c, d, a]
    }
}

/// Horizontal or vertical text anchor; the discriminant is twice the share of the text before it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Start = 0,
    Middle = 1,
    End = 2,
}

/// How text is drawn: size in px, weight, colour, anchor and whether it reads bottom-up.
#[derive(Clone, Copy)]
pub struct Font {
    pub size: f64,
    pub bold: bool,
    pub color: RGBColor,
    pub h: Align,
    pub v: Align,
    pub vertical: bool,
}

pub fn font(size: f64) -> Font {
    Font { size, bold: false, color: BLACK, h: Align::Start, v: Align::Middle, vertical: false }
}

impl Font {
    pub fn at(self, h: Align, v: Align) -> Self {
        Font { h, v, ..self }
    }
    pub fn in_color(self, color: RGBColor) -> Self {
        Font { color, ..self }
    }
    pub fn bold(self) -> Self {
        Font { bold: true, ..self }
    }
    pub fn vertical(self) -> Self {
        Font { vertical: true, ..self }
    }
    pub fn width(&self, text: &str) -> f64 {
        text::layout(text, self.size, self.bold).width
    }
}

/// Line patterns: history solid, projections and reference lines dashed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dash {
    Solid,
    Dashed,
}

impl Dash {
    /// (on, off) lengths in pixels, `None` for solid.
    fn pattern(self) -> Option<(f64, f64)> {
        (self == Dash::Dashed).then_some((11.0, 6.0))
    }
}

enum Target<'a> {
    Png(BitMapBackend<'a>),
    Svg { body: String, glyphs: GlyphDefs },
}

/// One chart being drawn. `occupied` collects what legends must not cover.
pub struct Canvas<'a> {
    target: Target<'a>,
    /// Device pixels per logical pixel (PNG only; SVGs are in logical pixels).
    scale: f64,
    pub size: P,
    pub occupied: Vec<Rect>,
}

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

impl<'a> Canvas<'a> {
    pub fn png(path: &'a std::path::Path, size: (u32, u32), scale: f64) -> Self {
        let device = ((f64::from(size.0) * scale).round() as u32, (f64::from(size.1) * scale).round() as u32);
        let mut backend = BitMapBackend::new(path, device);
        // A new bitmap is black; drawing white cannot fail before anything is written.
        let _ = backend.draw_rect((0, 0), (device.0 as i32, device.1 as i32), &WHITE.filled(), true);
        Canvas { target: Target::Png(backend), scale, ..Canvas::svg(size) }
    }

    pub fn svg(size: (u32, u32)) -> Self {
        let target = Target::Svg { body: String::new(), glyphs: GlyphDefs::default() };
        Canvas { target, scale: 1.0, size: (f64::from(size.0), f64::from(size.1)), occupied: Vec::new() }
    }

    /// Writes the PNG (`None`) or returns the SVG document with `attrs` on its root element.
    pub fn finish(self, attrs: &str) -> Result<Option<String>, String> {
        match self.target {
            Target::Png(mut b) => b.present().map(|_| None).map_err(|e| e.to_string()),
            Target::Svg { body, glyphs } => {
                let (w, h) = self.size;
                Ok(Some(format!(
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" {attrs}>{}<rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>{body}</svg>\n",
                    glyphs.defs()
                )))
            }
        }
    }

    fn dev(&self, (x, y): P) -> (i32, i32) {
        // Far-off points only matter up to the edge; clamping keeps integer maths safe.
        let c = |v: f64| (v * self.scale).round().clamp(-1e6, 1e6) as i32;
        (c(x), c(y))
    }

    fn png_style(&self, color: RGBColor, alpha: f64, width: f64) -> ShapeStyle {
        ShapeStyle { color: color.mix(alpha), filled: true, stroke_width: (width * self.scale).round().max(1.0) as u32 }
    }

    /// Filled polygon (one ring).
    pub fn fill(&mut self, ring: &[P], color: RGBColor, alpha: f64) -> Result<(), String> {
        if ring.len() < 3 {
            return Ok(());
        }
        let pts: Vec<(i32, i32)> = ring.iter().map(|&p| self.dev(p)).collect();
        let style = self.png_style(color, alpha, 1.0);
        match &mut self.target {
            Target::Png(b) => b.fill_polygon(pts, &style).map_err(|e| e.to_string()),
            Target::Svg { body, .. } => {
                let opacity = if alpha < 1.0 { format!(" fill-opacity=\"{alpha:.2}\"") } else { String::new() };
                let _ = write!(body, "<path d=\"{}Z\" fill=\"{}\"{opacity}/>", path_data(ring), hex(color));
                Ok(())
            }
        }
    }

    /// Polyline of `width` px in a dash pattern.
    pub fn stroke(&mut self, pts: &[P], color: RGBColor, width: f64, dash: Dash) -> Result<(), String> {
        if pts.len() < 2 {
            return Ok(());
        }
        let style = self.png_style(color, 1.0, width);
        let pieces = dash.pattern().map_or_else(|| vec![pts.to_vec()], |(on, off)| dashes(pts, on, off));
        let pieces: Vec<Vec<(i32, i32)>> = pieces.iter().map(|p| p.iter().map(|&q| self.dev(q)).collect()).collect();
        match &mut self.target {
            Target::Png(b) => pieces.into_iter().try_for_each(|p| b.draw_path(p, &style)).map_err(|e| e.to_string()),
            Target::Svg { body, .. } => {
                let dasharray = dash.pattern().map_or(String::new(), |(a, b)| format!(" stroke-dasharray=\"{a} {b}\""));
                let _ = write!(
                    body,
                    "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\" stroke-linejoin=\"round\"{dasharray}/>",
                    path_data(pts),
                    hex(color)
                );
                Ok(())
            }
        }
    }

    pub fn rect(&mut self, r: Rect, fill: Option<(RGBColor, f64)>, edge: Option<RGBColor>) -> Result<(), String> {
        if let Some((color, alpha)) = fill {
            self.fill(&r.corners()[..4], color, alpha)?;
        }
        edge.map_or(Ok(()), |color| self.stroke(&r.corners(), color, 1.0, Dash::Solid))
    }

    pub fn circle(&mut self, c: P, r: f64, fill: RGBColor, edge: Option<(RGBColor, f64)>) -> Result<(), String> {
        let (center, rad) = (self.dev(c), (r * self.scale).round() as u32);
        let edge_style = edge.map(|(color, w)| ShapeStyle { filled: false, ..self.png_style(color, 1.0, w) });
        match &mut self.target {
            Target::Png(b) => {
                b.draw_circle(center, rad, &fill.color(), true).map_err(|e| e.to_string())?;
                if let Some(style) = edge_style {
                    b.draw_circle(center, rad, &style, false).map_err(|e| e.to_string())?;
                }
            }
            Target::Svg { body, .. } => {
                let edge = edge.map_or(String::new(), |(c, w)| format!(" stroke=\"{}\" stroke-width=\"{w}\"", hex(c)));
                let (x, y, fill) = (c.0, c.1, hex(fill));
                let _ = write!(body, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{fill}\"{edge}/>");
            }
        }
        Ok(())
    }

    /// What `draw` draws, in an SVG group whose `<title>` is the browser's hover text if there is
    /// one (nothing in a PNG).
    pub fn hover(
        &mut self,
        title: Option<&str>,
        draw: impl FnOnce(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        let Some(title) = title else { return draw(self) };
        if let Target::Svg { body, .. } = &mut self.target {
            let _ = write!(body, "<g><title>{}</title>", text::escape(title));
        }
        draw(self)?;
        if let Target::Svg { body, .. } = &mut self.target {
            body.push_str("</g>");
        }
        Ok(())
    }

    /// Draws `s` anchored at `at`; returns the box it covers. Top/middle anchors refer to the
    /// capitals, the bottom anchor to the baseline.
    pub fn text(&mut self, s: &str, at: P, f: Font) -> Result<Rect, String> {
        let laid = text::layout(s, f.size, f.bold);
        let cap = text::CAP * f.size;
        let (h, v) = (f64::from(f.h as u8) / 2.0, f64::from(f.v as u8) / 2.0);
        let (dx, dy) = (-laid.width * h, cap * (1.0 - v));
        // Baseline origin, and the text box (cap top to descenders) in text space.
        let rot = |(x, y): P| if f.vertical { (y, -x) } else { (x, y) };
        let (ox, oy) = rot((dx, dy));
        let origin = (at.0 + ox, at.1 + oy);
        let (a, b) = (rot((dx, dy - cap - 2.0)), rot((dx + laid.width, dy + 0.2 * f.size)));
        let rect = Rect::new(at.0 + a.0, at.1 + a.1, at.0 + b.0, at.1 + b.1);
        let (bx, by) = self.dev(origin);
        match &mut self.target {
            Target::Png(backend) => {
                let mut result = Ok(());
                text::coverage(&laid, self.scale, f.size, f.bold, |x, y, c| {
                    let (x, y) = if f.vertical { (y, -x) } else { (x, y) };
                    let color = BackendColor { alpha: f64::from(c.min(1.0)), rgb: (f.color.0, f.color.1, f.color.2) };
                    if c > 0.0 && result.is_ok() {
                        result = backend.draw_pixel((bx + x, by + y), color).map_err(|e| e.to_string());
                    }
                });
                result?;
            }
            Target::Svg { body, glyphs } => {
                let turn = if f.vertical { " rotate(-90)" } else { "" };
                let transform = format!("translate({:.1} {:.1}){turn}", origin.0, origin.1);
                body.push_str(&glyphs.text(s, f.size, f.bold, &hex(f.color), &transform));
            }
        }
        Ok(rect)
    }

    /// Text whose box legends must avoid.
    pub fn label(&mut self, s: &str, at: P, f: Font) -> Result<Rect, String> {
        self.text(s, at, f).inspect(|&r| self.occupied.push(r))
    }

    /// Reserves a polyline (sampled every few pixels) against legends.
    pub fn occupy_line(&mut self, pts: &[P], r: f64) {
        for w in pts.windows(2) {
            let steps = ((w[1].0 - w[0].0).abs().max((w[1].1 - w[0].1).abs()).min(4000.0) / 3.0) as usize + 1;
            for s in 0..=steps {
                let t = s as f64 / steps as f64;
                self.occupied.push(Rect::around((w[0].0 + t * (w[1].0 - w[0].0), w[0].1 + t * (w[1].1 - w[0].1)), r));
            }
        }
        if let [p] = pts {
            self.occupied.push(Rect::around(*p, r));
        }
    }

    /// Reserves the area between two polylines sampled at the same x positions.
    pub fn occupy_between(&mut self, upper: &[P], lower: &[P]) {
        for (u, l) in upper.windows(2).zip(lower.windows(2)) {
            let (top, bottom) = min_max([u[0], u[1], l[0], l[1]].map(|p| p.1));
            self.occupied.push(Rect::new(u[0].0, top, u[1].0, bottom));
        }
    }

    pub fn hits(&self, r: &Rect) -> usize {
        self.occupied.iter().filter(|o| o.intersects(r)).count()
    }

    /// The chart title, centred at the top.
    pub fn title(&mut self, s: &str) -> Result<(), String> {
        let f = font(TITLE_PX).bold().at(Align::Middle, Align::Start);
        self.text(s, (self.size.0 / 2.0, 18.0), f).map(|_| ())
    }

    /// Source note bottom left, `right` (e.g. the scenario) bottom right, small and grey.
    pub fn footer(&mut self, note: &str, right: &str) -> Result<(), String> {
        let y = self.size.1 - FOOTER_PX / 2.0;
        let f = font(NOTE_PX).in_color(TEXT_GREY);
        if !note.is_empty() {
            self.text(note, (LEFT_MARGIN_PX + 6.0, y), f)?;
        }
        if !right.is_empty() {
            self.text(right, (self.size.0 - RIGHT_MARGIN_PX, y), f.at(Align::End, Align::Middle))?;
        }
        Ok(())
    }

    /// A legend box in the first of `corners` of `area` that covers nothing drawn so far (or
    /// else the one covering least); `(x, y)` of each corner is 0 or 1 (left/top, right/bottom)
    /// and 0.5 for the middle.
    pub fn legend(&mut self, entries: &[(String, Swatch)], area: Rect, corners: &[(f64, f64)]) -> Result<(), String> {
        if entries.is_empty() {
            return Ok(());
        }
        let f = font(LEGEND_PX);
        let text_w = entries.iter().map(|(l, _)| f.width(l)).fold(0.0, f64::max);
        let (w, h) = (12.0 + SWATCH_W + 10.0 + text_w + 12.0, 24.0 + 26.0 * entries.len() as f64 - 6.0);
        let place = |(cx, cy): (f64, f64)| {
            let x = area.x0 + 10.0 + cx * (area.x1 - area.x0 - 20.0 - w);
            let y = area.y0 + 10.0 + cy * (area.y1 - area.y0 - 20.0 - h);
            Rect::new(x, y, x + w, y + h)
        };
        // The first of equally good corners.
        let best = corners.iter().map(|&c| place(c)).min_by_key(|r| self.hits(r)).unwrap_or_else(|| place((0.0, 0.0)));
        self.boxed(best)?;
        for (i, (label, swatch)) in entries.iter().enumerate() {
            let y = best.y0 + 12.0 + 26.0 * i as f64 + 10.0;
            self.swatch(*swatch, (best.x0 + 12.0, y))?;
            self.text(label, (best.x0 + 22.0 + SWATCH_W, y), f)?;
        }
        Ok(())
    }

    /// A filled rectangle legends must avoid.
    pub fn block(&mut self, r: Rect, fill: (RGBColor, f64), edge: Option<RGBColor>) -> Result<(), String> {
        self.occupied.push(r);
        self.rect(r, Some(fill), edge)
    }

    /// White box with a grey border (legends, notes), reserved against legends.
    pub fn boxed(&mut self, r: Rect) -> Result<(), String> {
        self.block(r, (WHITE, 0.93), Some(RGBColor(190, 190, 190)))
    }

    /// The key of one legend entry, `SWATCH_W` wide, centred vertically on `y`.
    pub fn swatch(&mut self, swatch: Swatch, (x, y): P) -> Result<(), String> {
        let mid = (x + SWATCH_W / 2.0, y);
        let (line, band) = ([(x, y), (x + SWATCH_W, y)], Rect::new(x, y - 8.0, x + SWATCH_W, y + 8.0));
        let bar = Rect { x0: x + 6.0, x1: x + SWATCH_W - 6.0, ..band };
        match swatch {
            Swatch::Series(color, look) => {
                self.stroke(&line, color, LINE_W, look)?;
                marker(self, mid, color, look)
            }
            Swatch::Bar(color) => self.rect(bar, Some((color, 0.85)), None),
            Swatch::Line(color, dash, w) => self.stroke(&line, color, w, dash),
            Swatch::Band(color) => self.rect(band, Some((color, BAND_ALPHA)), None),
            Swatch::Dot(color) => self.circle(mid, 4.0, color, Some((INK, 1.0))),
        }
    }
}

/// A legend key.
#[derive(Clone, Copy)]
pub enum Swatch {
    Series(RGBColor, Dash),
    Bar(RGBColor),
    Line(RGBColor, Dash, f64),
    Band(RGBColor),
    Dot(RGBColor),
}

/// A data point: recorded history is solid with filled markers, a projection dashed with hollow
/// ones, so the two read apart even in greyscale.
pub fn marker(c: &mut Canvas, at: P, color: RGBColor, look: Dash) -> Result<(), String> {
    let fill = if look == Dash::Solid { color } else { WHITE };
    c.circle(at, MARKER_R, fill, Some((color, 2.0)))
}

/// SVG path data ("M x y L x y …") of a polyline.
pub fn path_data(pts: &[P]) -> String {
    pts.iter().enumerate().map(|(i, (x, y))| format!("{}{x:.1} {y:.1}", if i == 0 { 'M' } else { 'L' })).collect()
}

/// The "on" pieces of a polyline dashed `on`, `off` pixels along its length.
pub fn dashes(pts: &[P], on: f64, off: f64) -> Vec<Vec<P>> {
    let (mut out, mut piece, mut phase) = (Vec::new(), vec![pts[0]], 0.0);
    for w in pts.windows(2) {
        let len = ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt().min(1e5);
        let mut t = 0.0;
        while t < len {
            let drawing = phase < on;
            let step = (if drawing { on - phase } else { on + off - phase }).min(len - t);
            t += step;
            phase += step;
            let p = (w[0].0 + (w[1].0 - w[0].0) * t / len, w[0].1 + (w[1].1 - w[0].1) * t / len);
            if drawing {
                piece.push(p);
            }
            if phase >= on + off {
                phase = 0.0;
                piece = vec![p];
            } else if drawing && phase >= on {
                out.push(std::mem::take(&mut piece));
            }
        }
    }
    if piece.len() > 1 && phase < on {
        out.push(piece);
    }
    out
}
