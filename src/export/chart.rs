//! The SVG charts of the HTML report, drawn by hand (no script, no fonts): bars with an
//! interval, box plots (quartiles, Tukey whiskers at 1.5 IQR, points beyond them) and
//! lines over a numeric x axis. Pure: data in, an `<svg>` string out; every label passes
//! through [`esc`].

use crate::measure::stats::percentile_sorted;
use std::fmt::Write as _;

pub(super) const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22",
];

use super::escape_html as esc;

/// A number with about four significant digits; "–" when absent.
pub(super) fn num(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) if !v.is_finite() => "–".into(),
        Some(v) => {
            let a = v.abs();
            if a >= 1000.0 {
                format!("{v:.0}")
            } else if a >= 100.0 {
                format!("{v:.1}")
            } else if a >= 10.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.3}")
            }
        }
    }
}

/// Tick values for an axis: 1, 2 or 5 × 10^k steps covering [lo, hi].
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() * step;
    let mut t = Vec::new();
    let mut x = first;
    while x <= hi + step * 1e-9 {
        t.push(if x.abs() < step * 1e-9 { 0.0 } else { x });
        x += step;
    }
    if t.last().is_some_and(|&l| l < hi) {
        t.push(x);
    }
    t
}

/// Tick labels with as many decimals as the step needs ("0", "50", "0.25").
fn tick_label(v: f64, ticks: &[f64]) -> String {
    let step = if ticks.len() > 1 {
        (ticks[1] - ticks[0]).abs()
    } else {
        1.0
    };
    let decimals = if step > 0.0 {
        (-step.log10().floor()).max(0.0) as usize
    } else {
        0
    };
    format!("{v:.decimals$}")
}

/// A linear map from data to pixels.
#[derive(Clone, Copy)]
struct Scale {
    d0: f64,
    d1: f64,
    p0: f64,
    p1: f64,
}

impl Scale {
    fn at(&self, v: f64) -> f64 {
        if self.d1 == self.d0 {
            return self.p0;
        }
        self.p0 + (v - self.d0) / (self.d1 - self.d0) * (self.p1 - self.p0)
    }
}

const W: f64 = 680.0;
const H: f64 = 320.0;
const ML: f64 = 70.0;
const MR: f64 = 20.0;
const MT: f64 = 34.0;
const MB: f64 = 70.0;

fn svg_open(s: &mut String, title: &str, height: f64) {
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" role="img" aria-label="{t}"><text x="{x}" y="20" class="title" text-anchor="middle" font-size="14" font-weight="600" font-family="sans-serif">{t}</text>"#,
        t = esc(title),
        x = W / 2.0
    );
}

/// Y axis with grid lines and a label; returns the scale.
fn y_axis(s: &mut String, lo: f64, hi: f64, label: &str, height: f64) -> Scale {
    let ticks = nice_ticks(lo, hi, 5);
    let (t0, t1) = (ticks[0], *ticks.last().unwrap_or(&hi));
    let sc = Scale {
        d0: t0,
        d1: t1,
        p0: height - MB,
        p1: MT,
    };
    for t in &ticks {
        let y = sc.at(*t);
        let _ = write!(
            s,
            r#"<line x1="{ML}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="rgb(230,230,230)"/><text x="{tx}" y="{ty:.1}" class="tick" font-size="11" fill="rgb(68,68,68)" font-family="sans-serif" text-anchor="end">{v}</text>"#,
            x2 = W - MR,
            tx = ML - 6.0,
            ty = y + 4.0,
            v = tick_label(*t, &ticks)
        );
    }
    let _ = write!(
        s,
        r#"<text transform="translate(16,{cy}) rotate(-90)" class="axis" font-size="12" font-family="sans-serif" text-anchor="middle">{l}</text>"#,
        cy = (height - MB + MT) / 2.0,
        l = esc(label)
    );
    sc
}

/// A bar's value with an optional interval (lo, hi).
pub type BarValue = (f64, Option<(f64, f64)>);

/// One bar series: a name and, per category, a value.
pub struct BarSeries {
    pub name: String,
    pub values: Vec<Option<BarValue>>,
}

/// Grouped bars, one group per category.
pub fn bar_chart(title: &str, unit: &str, categories: &[String], series: &[BarSeries]) -> String {
    let mut s = String::new();
    svg_open(&mut s, title, H);
    let max = series
        .iter()
        .flat_map(|x| x.values.iter().flatten())
        .map(|(v, ci)| ci.map(|c| c.1).unwrap_or(*v).max(*v))
        .fold(0.0f64, f64::max);
    let y = y_axis(&mut s, 0.0, if max > 0.0 { max } else { 1.0 }, unit, H);
    let n = categories.len().max(1) as f64;
    let band = (W - ML - MR) / n;
    let k = series.len().max(1) as f64;
    let bw = (band * 0.8 / k).min(60.0);
    for (ci, cat) in categories.iter().enumerate() {
        let x0 = ML + band * ci as f64 + (band - bw * k) / 2.0;
        for (si, ser) in series.iter().enumerate() {
            let Some(Some((v, interval))) = ser.values.get(ci) else {
                continue;
            };
            let x = x0 + bw * si as f64;
            let (top, base) = (y.at(*v), y.at(0.0));
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="{c}"><title>{t}: {name} {val} {u}</title></rect>"#,
                w = bw - 2.0,
                h = (base - top).max(0.0),
                c = COLORS[si % COLORS.len()],
                t = esc(cat),
                name = esc(&ser.name),
                val = num(Some(*v)),
                u = esc(unit)
            );
            if let Some((lo, hi)) = interval {
                let cx = x + (bw - 2.0) / 2.0;
                let _ = write!(
                    s,
                    r#"<path d="M{cx:.1},{a:.1}V{b:.1}M{l:.1},{a:.1}H{r:.1}M{l:.1},{b:.1}H{r:.1}" class="whisker" stroke="rgb(51,51,51)" stroke-width="1.2" fill="none"/>"#,
                    a = y.at(*lo),
                    b = y.at(*hi),
                    l = cx - 4.0,
                    r = cx + 4.0
                );
            }
        }
        let _ = write!(
            s,
            r#"<text x="{x:.1}" y="{ty}" class="tick" font-size="11" fill="rgb(68,68,68)" font-family="sans-serif" text-anchor="middle">{t}</text>"#,
            x = ML + band * (ci as f64 + 0.5),
            ty = H - MB + 16.0,
            t = esc(cat)
        );
    }
    legend(&mut s, series.iter().map(|x| x.name.as_str()), H);
    s.push_str("</svg>");
    s
}

fn legend<'a>(s: &mut String, names: impl Iterator<Item = &'a str>, height: f64) {
    let mut x = ML;
    for (i, name) in names.enumerate() {
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{y:.1}" width="10" height="10" fill="{c}"/><text x="{tx:.1}" y="{ty:.1}" class="tick" font-size="11" fill="rgb(68,68,68)" font-family="sans-serif">{n}</text>"#,
            y = height - 24.0,
            c = COLORS[i % COLORS.len()],
            tx = x + 14.0,
            ty = height - 15.0,
            n = esc(name)
        );
        x += 30.0 + 7.5 * name.chars().count() as f64;
    }
}

/// Five-number summary with Tukey whiskers.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxStats {
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub whisker_lo: f64,
    pub whisker_hi: f64,
    /// Values beyond the whiskers.
    pub beyond: Vec<f64>,
    pub n: usize,
}

/// Box statistics of the finite values; `None` when there are none.
pub fn box_stats(values: &[f64]) -> Option<BoxStats> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let q1 = percentile_sorted(&v, 25.0);
    let q3 = percentile_sorted(&v, 75.0);
    let iqr = q3 - q1;
    let (fence_lo, fence_hi) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
    let inside: Vec<f64> = v
        .iter()
        .copied()
        .filter(|x| *x >= fence_lo && *x <= fence_hi)
        .collect();
    Some(BoxStats {
        q1,
        median: percentile_sorted(&v, 50.0),
        q3,
        whisker_lo: inside.first().copied().unwrap_or(q1),
        whisker_hi: inside.last().copied().unwrap_or(q3),
        beyond: v
            .iter()
            .copied()
            .filter(|x| *x < fence_lo || *x > fence_hi)
            .collect(),
        n: v.len(),
    })
}

/// Box plots, one per category.
pub fn box_chart(title: &str, unit: &str, boxes: &[(String, BoxStats)]) -> String {
    let mut s = String::new();
    svg_open(&mut s, title, H);
    let lo = boxes
        .iter()
        .flat_map(|(_, b)| b.beyond.iter().copied().chain([b.whisker_lo]))
        .fold(f64::INFINITY, f64::min);
    let hi = boxes
        .iter()
        .flat_map(|(_, b)| b.beyond.iter().copied().chain([b.whisker_hi]))
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-3).max(1e-9);
    let y = y_axis(&mut s, (lo - pad).max(0.0), hi + pad, unit, H);
    let band = (W - ML - MR) / boxes.len().max(1) as f64;
    for (i, (label, b)) in boxes.iter().enumerate() {
        let cx = ML + band * (i as f64 + 0.5);
        let bw = (band * 0.5).min(70.0);
        let c = COLORS[i % COLORS.len()];
        let _ = write!(
            s,
            r#"<g><title>{t}: n={n}, median {m}, IQR {q1}–{q3} {u}</title><path d="M{cx:.1},{wl:.1}V{q1y:.1}M{cx:.1},{q3y:.1}V{wh:.1}M{l:.1},{wl:.1}H{r:.1}M{l:.1},{wh:.1}H{r:.1}" class="whisker" stroke="rgb(51,51,51)" stroke-width="1.2" fill="none"/><rect x="{bx:.1}" y="{q3y:.1}" width="{bw:.1}" height="{bh:.1}" fill="{c}" fill-opacity="0.35" stroke="{c}"/><line x1="{bx:.1}" x2="{bx2:.1}" y1="{my:.1}" y2="{my:.1}" stroke="{c}" stroke-width="2.5"/></g>"#,
            t = esc(label),
            n = b.n,
            m = num(Some(b.median)),
            q1 = num(Some(b.q1)),
            q3 = num(Some(b.q3)),
            u = esc(unit),
            wl = y.at(b.whisker_lo),
            wh = y.at(b.whisker_hi),
            q1y = y.at(b.q1),
            q3y = y.at(b.q3),
            l = cx - bw / 4.0,
            r = cx + bw / 4.0,
            bx = cx - bw / 2.0,
            bx2 = cx + bw / 2.0,
            bh = (y.at(b.q1) - y.at(b.q3)).max(0.5),
            my = y.at(b.median),
        );
        // At most 100 points beyond the whiskers, so the file stays small.
        for v in b.beyond.iter().take(100) {
            let _ = write!(
                s,
                r#"<circle cx="{cx:.1}" cy="{py:.1}" r="2.5" fill="none" stroke="{c}"><title>{val}</title></circle>"#,
                py = y.at(*v),
                val = num(Some(*v))
            );
        }
        let _ = write!(
            s,
            r#"<text x="{cx:.1}" y="{ty}" class="tick" font-size="11" fill="rgb(68,68,68)" font-family="sans-serif" text-anchor="middle">{t}</text>"#,
            ty = H - MB + 16.0,
            t = esc(label)
        );
    }
    s.push_str("</svg>");
    s
}

/// One line of an x–y chart.
pub struct XySeries {
    pub name: String,
    pub dashed: bool,
    /// (x, y, label shown on hover).
    pub points: Vec<(f64, f64, String)>,
}

/// Lines through points, with axis labels.
pub fn xy_chart(title: &str, x_label: &str, y_label: &str, series: &[XySeries]) -> String {
    let mut s = String::new();
    svg_open(&mut s, title, H);
    let pts = || series.iter().flat_map(|x| x.points.iter());
    let xmax = pts().map(|p| p.0).fold(0.0f64, f64::max);
    let ymax = pts().map(|p| p.1).fold(0.0f64, f64::max);
    let y = y_axis(&mut s, 0.0, if ymax > 0.0 { ymax } else { 1.0 }, y_label, H);
    let xt = nice_ticks(0.0, if xmax > 0.0 { xmax } else { 1.0 }, 6);
    let x = Scale {
        d0: xt[0],
        d1: *xt.last().unwrap_or(&1.0),
        p0: ML,
        p1: W - MR,
    };
    for t in &xt {
        let _ = write!(
            s,
            r#"<text x="{px:.1}" y="{py}" class="tick" font-size="11" fill="rgb(68,68,68)" font-family="sans-serif" text-anchor="middle">{v}</text>"#,
            px = x.at(*t),
            py = H - MB + 16.0,
            v = tick_label(*t, &xt)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{cx}" y="{py}" class="axis" font-size="12" font-family="sans-serif" text-anchor="middle">{l}</text>"#,
        cx = (ML + W - MR) / 2.0,
        py = H - MB + 34.0,
        l = esc(x_label)
    );
    for (i, ser) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let path: Vec<String> = ser
            .points
            .iter()
            .map(|(px, py, _)| format!("{:.1},{:.1}", x.at(*px), y.at(*py)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline points="{p}" fill="none" stroke="{c}" stroke-width="2"{d}/>"#,
            p = path.join(" "),
            d = if ser.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            }
        );
        for (px, py, label) in &ser.points {
            let _ = write!(
                s,
                r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="3.5" fill="{c}"><title>{n} {l}: {xv}, {yv}</title></circle>"#,
                cx = x.at(*px),
                cy = y.at(*py),
                n = esc(&ser.name),
                l = esc(label),
                xv = num(Some(*px)),
                yv = num(Some(*py))
            );
        }
    }
    legend(&mut s, series.iter().map(|x| x.name.as_str()), H);
    s.push_str("</svg>");
    s
}
