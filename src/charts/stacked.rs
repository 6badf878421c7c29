//! Stacked layers over years: areas of non-negative layers (migrants by regime or size class),
//! or diverging stacked bars for a change split into its sources (the decomposition).

use super::*;

/// A stacked chart, of areas or (with a net mark) of diverging bars. Areas: layers stacked
/// bottom-up (one year becomes a stacked bar), totals at the first and last year, the legend in
/// stack order; negative values count as 0. Bars: layers that are zero in every year are left out
/// of the bars and the legend. Missing and NaN values count as 0; a repeated year keeps its first
/// column.
#[derive(Debug, Clone, Copy)]
pub struct StackedChart<'a> {
    pub title: &'a str,
    /// Value-axis description with its unit.
    pub y_label: &'a str,
    pub years: &'a [i32],
    /// `(label, values)`, bottom layer (areas) or first legend entry (bars) first; `values[i]`
    /// belongs to `years[i]`.
    pub layers: &'a [(String, Vec<f64>)],
    pub source_note: &'a str,
    /// Legend rows to leave room for above the stack (at least the layers): charts of the same
    /// total with different layers pass the same number so their value axes share a top.
    pub headroom_rows: usize,
    /// `Some(legend label of the net mark)`: diverging bars that may go below zero; per year the
    /// positive layers stack up from zero, the negative ones down, and a black mark shows the net.
    pub net_label: Option<&'a str>,
}

/// A year: the `(low, high)` of each drawn layer and the net.
type Column = (f64, Vec<(f64, f64)>, f64);

/// The layers drawn and, per distinct year in order, their [`Column`]. Positive values stack up
/// from zero, negative ones (diverging only) down; a value that would make a sum infinite is
/// left out.
fn stack(years: &[i32], layers: &[(String, Vec<f64>)], diverging: bool) -> (Vec<usize>, Vec<Column>) {
    let mut columns: Vec<(i32, usize)> = years.iter().enumerate().map(|(i, &y)| (y, i)).collect();
    columns.sort_by_key(|&(y, _)| y); // stable: dedup keeps a repeated year's first column
    columns.dedup_by_key(|c| c.0);
    let value = |l: usize, i: usize| {
        layers[l].1.get(i).copied().filter(|v| v.is_finite() && (diverging || *v > 0.0)).unwrap_or(0.0)
    };
    let shown: Vec<_> =
        (0..layers.len()).filter(|&l| !diverging || columns.iter().any(|&(_, i)| value(l, i) != 0.0)).collect();
    let columns = columns
        .into_iter()
        .map(|(year, i)| {
            let (mut up, mut down) = (0.0, 0.0);
            let pieces = shown.iter().map(|&l| {
                let v = value(l, i);
                let (lo, hi) = if v >= 0.0 { (up, up + v) } else { (down + v, down) };
                if !(lo.is_finite() && hi.is_finite()) {
                    return (up, up);
                }
                (up, down) = if v >= 0.0 { (hi, down) } else { (up, lo) };
                (lo, hi)
            });
            (f64::from(year), pieces.collect(), up + down)
        })
        .collect();
    (shown, columns)
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
        let (shown, columns) = stack(self.years, self.layers, self.net_label.is_some());
        let values =
            columns.iter().flat_map(|(_, pieces, net)| pieces.iter().flat_map(|&(lo, hi)| [lo, hi]).chain([*net]));
        let (lo, hi) = min_max(values.chain([0.0]));
        let top = top_for_legend(hi, lo, (shown.len() + usize::from(self.net_label.is_some())).max(self.headroom_rows));
        let step = tick_step(top - lo);
        let y = Axis::values((lo / step).floor() * step, top);
        let span = year_span(columns.iter().map(|c| c.0 as i32));
        let mut f = Frame::years(c, self.title, span.unwrap_or(PLAN_YEARS), y, RIGHT_MARGIN_PX)?;
        f.year_axes(PLAN_END_YEAR, self.y_label)?;
        let color = |k: usize| PALETTE[k % PALETTE.len()];
        f.legend = shown.iter().enumerate().map(|(k, &l)| (self.layers[l].0.clone(), Swatch::Bar(color(k)))).collect();
        match self.net_label {
            Some(net_label) => {
                for (x, pieces, net) in &columns {
                    for (k, &(lo, hi)) in pieces.iter().enumerate().filter(|(_, p)| p.0 != p.1) {
                        f.bar(*x, (lo, hi), color(k), Some(WHITE))?;
                    }
                    let at = f.px((*x, *net));
                    let mark = Rect::new(at.0 - 22.0, at.1 - 2.0, at.0 + 22.0, at.1 + 2.0);
                    f.c.block(mark, (BLACK, 1.0), None)?;
                }
                let zero = [f.px((f.x.lo, 0.0)), f.px((f.x.hi, 0.0))];
                f.c.stroke(&zero, BLACK, 1.0, Dash::Solid)?;
                f.centre_note(columns.is_empty(), "No data")?;
                f.legend.push((net_label.to_string(), Swatch::Line(BLACK, Dash::Solid, 4.0)));
            }
            None => {
                areas(&mut f, &columns)?;
                f.legend.reverse(); // top layer first, as stacked on screen
            }
        }
        f.legend(&[(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])?;
        c.footer(self.source_note, "")
    }
}

/// The layers of a stacked-area chart, each labelled with its value at the last year, and the
/// totals at the first and last year.
fn areas(f: &mut Frame, columns: &[Column]) -> Result<(), String> {
    let n = columns.first().map_or(0, |c| c.1.len());
    for i in 0..n {
        let color = PALETTE[i % PALETTE.len()];
        let upper: Vec<P> = columns.iter().map(|(x, pieces, _)| (*x, pieces[i].1)).collect();
        let lower: Vec<P> = columns.iter().map(|(x, pieces, _)| (*x, pieces[i].0)).collect();
        // Opaque tints, so the plan band does not shift their colours; white separators.
        f.area(&upper, &lower, (tint(color, 0.85), 1.0), Some(if i + 1 == n { color } else { WHITE }))?;
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
    if !columns.iter().any(|c| c.2 > 0.0) {
        return f.centre_note(true, "No data");
    }
    for (_, &(x, _, v)) in columns.iter().enumerate().filter(|&(i, _)| i == 0 || i + 1 == columns.len()) {
        f.annotate((x, v), &format!("Total {}", compact_number(v, f.y.step / 10.0, v, false)), TEXT_GREY)?;
    }
    Ok(())
}
