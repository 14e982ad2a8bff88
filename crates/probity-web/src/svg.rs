//! Server-rendered SVG charts for the review UI.
//!
//! Every function returns one self-contained inline `<svg>` element with
//! `role="img"`, an `aria-label`, a `<title>` child and a `viewBox`. The pages
//! run under a strict Content-Security-Policy, so the markup uses presentation
//! attributes only: never a `style` attribute nor a `<style>` element. The
//! `width`/`height` attributes repeat the `viewBox` size; the site stylesheet
//! may scale charts through their `probity-chart` class. Every string that
//! comes from data is XML-escaped, and colours always come with a text label.

use std::fmt::Write as _;

/// Okabe–Ito colour-blind-safe palette.
const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];
/// Longest label drawn in full; longer ones are cut with "…" (full text in the title).
pub const MAX_LABEL: usize = 28;
const MAX_DAYS: u32 = 92;
const END: &str = r#" text-anchor="end""#;
const MID: &str = r#" text-anchor="middle" font-size="11""#;
const SMALL: &str = r#" font-size="11""#;
const SHIFT: &str = r##"fill="#0072B2""##;
const SESSION: &str = r##"fill="#009E73""##;
const ABSENCE: &str = r##"fill="#999999" fill-opacity="0.35""##;
const HIGHLIGHT: &str = r##"fill="#FFF3C4" stroke="#D55E00" stroke-width="2""##;
const SWIPE_IN: &str = r##"stroke="#000000" stroke-width="2""##;
const SWIPE_OUT: &str = r##"stroke="#D55E00" stroke-width="2" stroke-dasharray="3 2""##;
const LOOKUP: &str = r##"fill="#CC79A7" stroke="#000000" stroke-width="0.5""##;
const GRID: &str = r##"stroke="#CCCCCC""##;

/// `write!` into a `String`, which cannot fail.
macro_rules! w {
    ($s:expr, $($arg:tt)*) => {{ let _ = write!($s, $($arg)*); }};
}

/// Escapes text for XML content and attribute values; drops control
/// characters that XML 1.0 forbids.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}

/// NaN, infinities and negatives become 0.
pub fn clean(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 { v } else { 0.0 }
}

/// At most one decimal place, no trailing ".0", never "-0".
pub fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    let r = if r == 0.0 || !r.is_finite() { 0.0 } else { r };
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// Cuts a label to [`MAX_LABEL`] characters, ending in "…".
pub fn trunc(s: &str) -> String {
    if s.chars().count() <= MAX_LABEL {
        return s.to_string();
    }
    let mut t: String = s.chars().take(MAX_LABEL - 1).collect();
    t.push('…');
    t
}

/// `HH:MM` for a minute of the day (0..=1440).
fn hm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Opens the `<svg>` with its accessible name and a visible bold heading.
fn open(w: f64, h: f64, label: &str, heading: &str) -> String {
    let (w, h, l) = (num(w), num(h), esc(label));
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="probity-chart" role="img" aria-label="{l}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" preserveAspectRatio="xMinYMin meet" font-family="sans-serif" font-size="12" fill="#222222">"##
    );
    w!(s, "<title>{l}</title>");
    let heading = esc(heading);
    w!(
        s,
        r#"<text x="8" y="20" font-size="14" font-weight="bold">{heading}</text>"#
    );
    s
}

/// `x y width height` attributes.
fn bx(x: f64, y: f64, w: f64, h: f64) -> String {
    let (x, y, w, h) = (num(x), num(y), num(w), num(h));
    format!(r#"x="{x}" y="{y}" width="{w}" height="{h}""#)
}

/// `x1 y1 x2 y2` attributes.
fn seg(x1: f64, y1: f64, x2: f64, y2: f64) -> String {
    let (x1, y1, x2, y2) = (num(x1), num(y1), num(x2), num(y2));
    format!(r#"x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}""#)
}

/// Writes `<tag geo attrs>` (trusted markup) with an escaped `<title>` child
/// unless `tip` is empty.
fn el(s: &mut String, tag: &str, geo: &str, attrs: &str, tip: &str) {
    if tip.is_empty() {
        w!(s, "<{tag} {geo} {attrs}/>");
    } else {
        let tip = esc(tip);
        w!(s, "<{tag} {geo} {attrs}><title>{tip}</title></{tag}>");
    }
}

/// A `<text>`; content is escaped and cut to 28 chars, the full text then
/// kept in a `<title>` so hovering shows it.
fn text(s: &mut String, x: f64, y: f64, attrs: &str, content: &str) {
    let short = trunc(content);
    let tip = if short == content {
        String::new()
    } else {
        format!("<title>{}</title>", esc(content))
    };
    let (x, y, short) = (num(x), num(y), esc(&short));
    w!(s, r#"<text x="{x}" y="{y}"{attrs}>{tip}{short}</text>"#);
}

fn no_data(title: &str, msg: &str) -> String {
    let mut s = open(360.0, 52.0, &format!("{title}: {msg}"), title);
    text(&mut s, 8.0, 42.0, r##" fill="#555555""##, msg);
    s + "</svg>"
}

/// Fill for series `i`; past the eighth series the colours repeat lighter so
/// series stay distinguishable (and the legend always names them).
fn series_fill(i: usize) -> String {
    let light = if (i / PALETTE.len()) % 2 == 1 {
        r#" fill-opacity="0.45""#
    } else {
        ""
    };
    format!(r#"fill="{}"{light}"#, PALETTE[i % PALETTE.len()])
}

/// Smallest of 1, 2, 5 × 10^k that is ≥ `m` (at least 1).
fn nice(m: f64) -> f64 {
    if m <= 1.0 {
        return 1.0;
    }
    let p = 10f64.powf(m.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|f| f * p)
        .find(|v| *v >= m)
        .unwrap_or(10.0 * p)
}

/// A bar chart: one bar per (label, value), horizontal bars, labels on the left, value at the bar end.
pub fn bar_chart(title: &str, bars: &[(String, f64)], unit: &str) -> String {
    if bars.is_empty() {
        return no_data(title, "No data");
    }
    const LEFT: f64 = 190.0;
    const AREA: f64 = 360.0;
    const ROW: f64 = 24.0;
    const TOP: f64 = 32.0;
    let max = bars.iter().map(|b| clean(b.1)).fold(0.0, f64::max);
    let height = TOP + ROW * bars.len() as f64 + 8.0;
    let bar = series_fill(0);
    let mut s = open(LEFT + AREA + 100.0, height, title, title);
    for (i, (name, v)) in bars.iter().enumerate() {
        let v = clean(*v);
        let y = TOP + ROW * i as f64;
        let width = if max > 0.0 { v / max * AREA } else { 0.0 };
        let val = format!("{} {unit}", num(v)).trim_end().to_string();
        text(&mut s, LEFT - 8.0, y + 15.0, END, name);
        let tip = format!("{name}: {val}");
        el(&mut s, "rect", &bx(LEFT, y + 3.0, width, 16.0), &bar, &tip);
        text(&mut s, LEFT + width + 6.0, y + 15.0, "", &val);
    }
    s + "</svg>"
}

/// Shared renderer for stacked columns and histograms.
fn columns(title: &str, cats: &[String], series: &[(String, Vec<f64>)], legend: bool) -> String {
    const TOP: f64 = 40.0;
    const PLOT_H: f64 = 200.0;
    const PITCH: f64 = 48.0;
    const COL: f64 = 34.0;
    const LEGEND_W: f64 = 200.0;
    let value = |vals: &Vec<f64>, c: usize| clean(vals.get(c).copied().unwrap_or(0.0));
    let total = |c: usize| series.iter().map(|(_, v)| value(v, c)).sum::<f64>();
    let top = nice((0..cats.len()).map(total).fold(0.0, f64::max));
    let longest = cats.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    // Labels over 7 chars are turned -45°; they then reach ~4.5 px per char
    // down and to the left, so the margins grow to keep them inside.
    let reach = if longest > 7 {
        longest.min(MAX_LABEL) as f64 * 4.5
    } else {
        0.0
    };
    let left = (reach - PITCH / 2.0 + 8.0).max(56.0);
    let xlab_h = 24.0 + reach;
    let width = (left + PITCH * cats.len() as f64 + 16.0).max(440.0);
    let per_row = (((width - left) / LEGEND_W) as usize).max(1);
    let legend_rows = series.len().div_ceil(per_row) * usize::from(legend);
    let base = TOP + PLOT_H;
    let height = base + xlab_h + legend_rows as f64 * 20.0 + 8.0;
    let mut s = open(width, height, title, title);
    for i in 0..=5 {
        let y = base - PLOT_H * f64::from(i) / 5.0;
        el(&mut s, "line", &seg(left, y, width - 8.0, y), GRID, "");
        let tick = num(top * f64::from(i) / 5.0);
        text(&mut s, left - 6.0, y + 4.0, END, &tick);
    }
    s.push_str(r#"<g class="plot">"#);
    for (c, cat) in cats.iter().enumerate() {
        let x = left + PITCH * c as f64 + (PITCH - COL) / 2.0;
        let mut y = base;
        for (si, (name, vals)) in series.iter().enumerate() {
            let v = value(vals, c);
            if v <= 0.0 {
                continue;
            }
            let h = v / top * PLOT_H;
            y -= h;
            let what = if legend {
                format!("{name} – {cat}")
            } else {
                cat.clone()
            };
            let tip = format!("{what}: {}", num(v));
            let fill = series_fill(si) + r##" stroke="#FFFFFF" stroke-width="1""##;
            el(&mut s, "rect", &bx(x, y, COL, h), &fill, &tip);
        }
    }
    s.push_str("</g>");
    for (c, cat) in cats.iter().enumerate() {
        let (cx, ly) = (left + PITCH * (c as f64 + 0.5), base + 16.0);
        let ty = base - total(c) / top * PLOT_H - 4.0;
        text(&mut s, cx, ty, MID, &num(total(c)));
        let (rx, ry) = (num(cx), num(ly));
        let rot = format!(r#"{END}{SMALL} transform="rotate(-45 {rx} {ry})""#);
        text(&mut s, cx, ly, if reach > 0.0 { &rot } else { MID }, cat);
    }
    for (i, (name, _)) in series.iter().enumerate().filter(|_| legend) {
        let lx = left + LEGEND_W * (i % per_row) as f64;
        let ly = base + xlab_h + 20.0 * (i / per_row) as f64;
        el(&mut s, "rect", &bx(lx, ly, 12.0, 12.0), &series_fill(i), "");
        text(&mut s, lx + 18.0, ly + 11.0, "", name);
    }
    s + "</svg>"
}

/// A stacked column chart: x = categories (e.g. months "2026-01"), one stacked segment per series (e.g. scenario); legend with series names.
/// series: Vec<(series_name, values)> where values.len() == categories.len().
pub fn stacked_columns(
    title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    if categories.is_empty() || series.is_empty() {
        return no_data(title, "No data");
    }
    columns(title, categories, series, true)
}

/// A person's activity over a period, one row per local day, x axis 00:00–24:00.
pub struct Timeline {
    /// First day shown, as "YYYY-MM-DD" (label only).
    pub first_day: String,
    /// Number of days shown (rows); day index 0..days.
    pub days: u32,
    /// Labels for each day row, len == days (e.g. "Mon 03 Mar").
    pub day_labels: Vec<String>,
    /// Rostered shifts: (day index, start minute of day 0..1440, end minute 0..1440, label e.g. "duty"). A shift crossing midnight is given by the caller as two spans.
    pub shifts: Vec<(u32, u32, u32, String)>,
    /// Absences: (first day index, last day index inclusive, label e.g. "sickness").
    pub absences: Vec<(u32, u32, String)>,
    /// Badge swipes: (day index, minute, label "in"/"out").
    pub swipes: Vec<(u32, u32, String)>,
    /// Device sessions: (day index, start minute, end minute, label e.g. "vpn").
    pub sessions: Vec<(u32, u32, u32, String)>,
    /// Record-system look-ups: (day index, minute, label e.g. "PNC").
    pub lookups: Vec<(u32, u32, String)>,
    /// Days to highlight as the finding's period: (first, last) inclusive day index.
    pub highlight: Option<(u32, u32)>,
}

/// Renders the timeline: rows = days (label at left), x = hour of day with gridlines every 3 h and labels 00 03 … 24;
/// each row has sub-lanes: absences shade the whole row; shifts as a filled bar; sessions as a thinner bar below;
/// swipes as short vertical ticks (different mark for in/out); look-ups as small circles. Highlighted days get a border/background band.
/// Each mark has a <title> child with its label and time (e.g. "duty 07:00–15:00", "look-up PNC 13:12") so hovering explains it.
/// A legend explains every mark type. Empty timeline (days == 0) renders a small SVG saying "No activity in this period".
pub fn timeline(t: &Timeline) -> String {
    let title = format!("Activity from {}", t.first_day);
    if t.days == 0 {
        return no_data(&title, "No activity in this period");
    }
    const LEFT: f64 = 180.0;
    const PW: f64 = 700.0;
    const ROW: f64 = 30.0;
    const TOP: f64 = 56.0;
    const WIDTH: f64 = LEFT + PW + 20.0;
    let shown = t.days.min(MAX_DAYS);
    let x = |m: u32| LEFT + f64::from(m.min(1440)) * PW / 1440.0;
    let y = |d: u32| TOP + f64::from(d) * ROW;
    let range = |a: u32, b: u32| (a.min(b) < shown).then(|| (a.min(b), a.max(b).min(shown - 1)));
    let day = |d: u32| match t.day_labels.get(d as usize) {
        Some(l) => l.clone(),
        None => format!("day {}", d + 1),
    };
    let days = |a: u32, b: u32| match a == b {
        true => day(a),
        false => format!("{}–{}", day(a), day(b)),
    };
    let mut head = format!("{title} ({} days)", t.days);
    if t.days > MAX_DAYS {
        head += &format!(" (first {MAX_DAYS} days shown)");
    }
    let mut s = open(WIDTH, y(shown) + 44.0, &head, &head);
    if let Some((a, b)) = t.highlight.and_then(|(a, b)| range(a, b)) {
        let geo = bx(2.0, y(a), WIDTH - 4.0, y(b + 1) - y(a));
        let tip = format!("finding period {}", days(a, b));
        el(&mut s, "rect", &geo, HIGHLIGHT, &tip);
    }
    for (a, b, l) in &t.absences {
        if let Some((a, b)) = range(*a, *b) {
            let geo = bx(LEFT, y(a), PW, y(b + 1) - y(a));
            let tip = format!("{l} {}", days(a, b));
            el(&mut s, "rect", &geo, ABSENCE, &tip);
        }
    }
    for hr in (0..=24).step_by(3) {
        let gx = x(hr * 60);
        el(&mut s, "line", &seg(gx, TOP, gx, y(shown)), GRID, "");
        text(&mut s, gx, TOP - 6.0, MID, &format!("{hr:02}"));
    }
    for d in 0..shown {
        text(&mut s, LEFT - 8.0, y(d) + 19.0, END, &day(d));
        let geo = seg(LEFT, y(d + 1), LEFT + PW, y(d + 1));
        el(&mut s, "line", &geo, r##"stroke="#EEEEEE""##, "");
    }
    let lanes = [
        (&t.shifts, "", 4.0, 11.0, SHIFT),
        (&t.sessions, "session ", 17.0, 6.0, SESSION),
    ];
    for (lane, prefix, top, h, fill) in lanes {
        for (d, a, b, l) in lane.iter().filter(|m| m.0 < shown) {
            let (a, b) = ((*a).min(1440), (*b).clamp((*a).min(1440), 1440));
            let geo = bx(x(a), y(*d) + top, (x(b) - x(a)).max(1.5), h);
            let tip = format!("{prefix}{l} {}–{}", hm(a), hm(b));
            el(&mut s, "rect", &geo, fill, &tip);
        }
    }
    for (d, m, l) in t.swipes.iter().filter(|m| m.0 < shown) {
        let (m, y0) = ((*m).min(1440), y(*d));
        let mark = if l.eq_ignore_ascii_case("out") {
            SWIPE_OUT
        } else {
            SWIPE_IN
        };
        let tip = format!("swipe {l} {}", hm(m));
        let geo = seg(x(m), y0 + 2.0, x(m), y0 + 28.0);
        el(&mut s, "line", &geo, mark, &tip);
    }
    for (d, m, l) in t.lookups.iter().filter(|m| m.0 < shown) {
        let m = (*m).min(1440);
        let geo = format!(r#"cx="{}" cy="{}" r="3.5""#, num(x(m)), num(y(*d) + 25.0));
        let tip = format!("look-up {l} {}", hm(m));
        el(&mut s, "circle", &geo, LOOKUP, &tip);
    }
    let ly = y(shown) + 19.0;
    let legend = [
        ("rect", 10.0, SHIFT, "shift"),
        ("rect", 6.0, SESSION, "device session"),
        ("line", 14.0, SWIPE_IN, "swipe in"),
        ("line", 14.0, SWIPE_OUT, "swipe out"),
        ("circle", 0.0, LOOKUP, "look-up"),
        ("rect", 12.0, ABSENCE, "absence"),
        ("rect", 12.0, HIGHLIGHT, "finding period"),
    ];
    for (i, (tag, h, attrs, name)) in legend.into_iter().enumerate() {
        let lx = 10.0 + 124.0 * i as f64;
        let geo = match tag {
            "rect" => bx(lx, ly - h / 2.0, 14.0, h),
            "line" => seg(lx + 7.0, ly - h / 2.0, lx + 7.0, ly + h / 2.0),
            _ => format!(r#"cx="{}" cy="{}" r="3.5""#, num(lx + 7.0), num(ly)),
        };
        el(&mut s, tag, &geo, attrs, "");
        text(&mut s, lx + 20.0, ly + 4.0, SMALL, name);
    }
    s + "</svg>"
}

/// A histogram of ages in days (queue age): buckets given by the caller as (label, count).
pub fn histogram(title: &str, buckets: &[(String, u64)]) -> String {
    if buckets.is_empty() {
        return no_data(title, "No data");
    }
    let cats: Vec<String> = buckets.iter().map(|b| b.0.clone()).collect();
    let counts = buckets.iter().map(|b| b.1 as f64).collect();
    columns(title, &cats, &[("count".to_string(), counts)], false)
}
