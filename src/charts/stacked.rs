//! Stacked areas of non-negative layers over years (migrants by regime or size class), and
//! diverging stacked bars for a change split into its sources (the decomposition).

use super::*;

/// A stacked-area chart; see [`render_stacked_chart`].
#[derive(Debug, Clone, Copy)]
pub struct StackedChart<'a> {
    /// File name without extension.
    pub stem: &'a str,
    pub title: &'a str,
    /// Value-axis description with its unit.
    pub y_label: &'a str,
    pub years: &'a [i32],
    /// `(label, values)`, bottom layer first; `values[i]` belongs to `years[i]`.
    pub layers: &'a [(String, Vec<f64>)],
    pub source_note: &'a str,
    /// Legend rows to leave room for above the stack (at least the layers): charts of the same
    /// total with different layers pass the same number so their value axes share a top.
    pub headroom_rows: usize,
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`: layers stacked bottom-up (one year becomes
/// a stacked bar), totals at the first and last year, the legend in stack order. Missing, NaN
/// and negative values count as 0; a repeated year keeps its first column. Returns the paths.
pub fn render_stacked_chart(dir: &Path, chart: &StackedChart) -> Result<Vec<PathBuf>, ChartError> {
    write_chart(dir, chart.stem, chart)
}

/// `(year, cumulative sums bottom-up)` per distinct year, sorted.
fn stack(years: &[i32], layers: &[(String, Vec<f64>)]) -> Vec<(f64, Vec<f64>)> {
    let mut columns: Vec<(i32, usize)> = years.iter().enumerate().map(|(i, &y)| (y, i)).collect();
    columns.sort_by_key(|&(y, _)| y); // stable: dedup keeps a repeated year's first column
    columns.dedup_by_key(|c| c.0);
    columns
        .into_iter()
        .map(|(year, i)| {
            let mut sum = 0.0;
            let cumulative = layers
                .iter()
                .map(|(_, values)| {
                    let v = values.get(i).copied().unwrap_or(0.0);
                    if v.is_finite() && v > 0.0 && (sum + v).is_finite() {
                        sum += v;
                    }
                    sum
                })
                .collect();
            (f64::from(year), cumulative)
        })
        .collect()
}

/// Axis top leaving `rows` legend rows (~26 px each in a plot ~560 px tall) above `max`.
fn top_for_legend(max: f64, lo: f64, rows: usize) -> f64 {
    let share = ((rows * 26 + 40) as f64 / 560.0).min(0.6);
    if share <= 0.26 {
        return top_with_headroom(max);
    }
    let top = max + (max - lo).max(1e-9) * share / (1.0 - share);
    let step = tick_step(top - lo);
    (top / step).ceil() * step
}

impl Drawing for StackedChart<'_> {
    fn draw(&self, c: &mut Canvas) -> Result<(), String> {
        let columns = stack(self.years, self.layers);
        let totals: Vec<(f64, f64)> = columns.iter().map(|(x, s)| (*x, s.last().copied().unwrap_or(0.0))).collect();
        let max = totals.iter().map(|t| t.1).fold(0.0, f64::max);
        let y = Axis::values(0.0, top_for_legend(max, 0.0, self.layers.len().max(self.headroom_rows)));
        let span = year_span(columns.iter().map(|c| c.0 as i32));
        let mut f =
            Frame::years(c, self.title, span.unwrap_or((PLAN_START_YEAR - 1, PLAN_END_YEAR)), y, RIGHT_MARGIN_PX)?;
        f.plan_band(PLAN_END_YEAR)?;
        f.axes("Year", self.y_label)?;
        let mut legend = Vec::new();
        let n = self.layers.len();
        for (i, (label, _)) in self.layers.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let upper: Vec<(f64, f64)> = columns.iter().map(|(x, s)| (*x, s[i])).collect();
            let lower: Vec<(f64, f64)> =
                columns.iter().map(|(x, s)| (*x, if i == 0 { 0.0 } else { s[i - 1] })).collect();
            // Opaque tints, so the plan band does not shift their colours; white separators.
            f.area(&upper, &lower, (tint(color, 0.85), 1.0), Some(if i + 1 == n { color } else { WHITE }))?;
            legend.push((label.clone(), Swatch::Bar(color)));
            // The layer's own value at the last year, inside it where it is thick enough.
            if let (Some(&(x, hi)), Some(&(_, lo)), true) = (upper.last(), lower.last(), columns.len() > 1) {
                let (top, bottom) = (f.px((x, hi)), f.px((x, lo)));
                if bottom.1 - top.1 >= 22.0 {
                    let text = compact_number(hi - lo, f.y.step / 10.0, hi - lo, false);
                    let white = font(LEGEND_PX).bold().in_color(WHITE).at(Align::End, Align::Middle);
                    f.c.text(&text, (top.0 - 10.0, (top.1 + bottom.1) / 2.0), white)?;
                }
            }
        }
        if max > 0.0 {
            let ends = if totals.len() > 1 { vec![totals[0], totals[totals.len() - 1]] } else { totals.clone() };
            for (x, v) in ends {
                f.annotate((x, v), &format!("Total {}", compact_number(v, f.y.step / 10.0, v, false)), TEXT_GREY)?;
            }
        } else {
            f.centre_note("No data")?;
        }
        legend.reverse(); // top layer first, as stacked on screen
        f.legend(&legend, &[(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])?;
        c.footer(self.source_note, "")
    }
}

/// Stacked bars that may go below zero: per year the positive layers stack up from zero, the
/// negative ones down, and a black mark shows the net.
pub struct DivergingChart<'a> {
    /// File name without extension.
    pub stem: &'a str,
    pub title: &'a str,
    /// Value-axis description with its unit.
    pub y_label: &'a str,
    pub years: &'a [i32],
    /// `(label, values)` in legend order; `values[i]` belongs to `years[i]`.
    pub layers: &'a [(String, Vec<f64>)],
    /// Legend label of the net mark.
    pub net_label: &'a str,
    pub source_note: &'a str,
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`; layers that are zero in every year are left
/// out of the bars and the legend. Returns the paths, PNG first.
pub fn render_diverging_chart(dir: &Path, chart: &DivergingChart) -> Result<Vec<PathBuf>, ChartError> {
    write_chart(dir, chart.stem, chart)
}

/// A year of a diverging chart: the pieces `(colour index, low, high)` and the net.
type Column = (f64, Vec<(usize, f64, f64)>, f64);

impl Drawing for DivergingChart<'_> {
    fn draw(&self, c: &mut Canvas) -> Result<(), String> {
        let value = |l: usize, i: usize| self.layers[l].1.get(i).copied().filter(|v| v.is_finite()).unwrap_or(0.0);
        let shown: Vec<usize> =
            (0..self.layers.len()).filter(|&l| (0..self.years.len()).any(|i| value(l, i) != 0.0)).collect();
        // Per year: the pieces (colour index, low, high) and the net.
        let columns: Vec<Column> = (0..self.years.len())
            .map(|i| {
                let (mut up, mut down, mut pieces) = (0.0, 0.0, Vec::new());
                for (k, &l) in shown.iter().enumerate() {
                    let v = value(l, i);
                    let (lo, hi) = if v > 0.0 { (up, up + v) } else { (down + v, down) };
                    (up, down) = if v > 0.0 { (up + v, down) } else { (up, down + v) };
                    pieces.push((k, lo, hi));
                }
                (f64::from(self.years[i]), pieces, up + down)
            })
            .collect();
        let (lo, hi) = columns
            .iter()
            .flat_map(|(_, p, net)| p.iter().flat_map(|q| [q.1, q.2]).chain([*net]).collect::<Vec<_>>())
            .fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let top = top_for_legend(hi, lo, shown.len() + 1);
        let step = tick_step(top - lo);
        let y = Axis::values((lo / step).floor() * step, top);
        let span = year_span(self.years.iter().copied());
        let mut f =
            Frame::years(c, self.title, span.unwrap_or((PLAN_START_YEAR - 1, PLAN_END_YEAR)), y, RIGHT_MARGIN_PX)?;
        f.plan_band(PLAN_END_YEAR)?;
        f.axes("Year", self.y_label)?;
        for (x, pieces, net) in &columns {
            for &(k, lo, hi) in pieces.iter().filter(|p| p.1 != p.2) {
                f.bar(*x, (lo, hi), 0.32, PALETTE[k % PALETTE.len()], Some(WHITE))?;
            }
            let at = f.px((*x, *net));
            let mark = Rect::new(at.0 - 22.0, at.1 - 2.0, at.0 + 22.0, at.1 + 2.0);
            f.c.rect(mark, Some((BLACK, 1.0)), None)?;
            f.c.occupied.push(mark);
        }
        let zero = [f.px((f.x.lo, 0.0)), f.px((f.x.hi, 0.0))];
        f.c.stroke(&zero, BLACK, 1.0, Dash::Solid)?;
        if columns.is_empty() {
            f.centre_note("No data")?;
        }
        let mut legend: Vec<(String, Swatch)> = shown
            .iter()
            .enumerate()
            .map(|(k, &l)| (self.layers[l].0.clone(), Swatch::Bar(PALETTE[k % PALETTE.len()])))
            .collect();
        legend.push((self.net_label.to_string(), Swatch::Line(BLACK, Dash::Solid, 4.0)));
        f.legend(&legend, &[(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])?;
        c.footer(self.source_note, "")
    }
}
