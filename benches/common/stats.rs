//! Medians, spreads and percentiles, and the number formats of the tables.

/// Median and spread (min–max) of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    Some(Summary {
        median,
        min: v[0],
        max: v[v.len() - 1],
        n: v.len(),
    })
}

/// Nearest-rank percentile (`p` in 0..=100) of an already sorted series.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `412 M`, `1.23 M`, `205 k`, `950`: three significant digits.
pub fn si(value: f64) -> String {
    let (v, unit) = if value >= 1e9 {
        (value / 1e9, " G")
    } else if value >= 1e6 {
        (value / 1e6, " M")
    } else if value >= 1e3 {
        (value / 1e3, " k")
    } else {
        (value, "")
    };
    format!("{}{unit}", sig3(v))
}

/// Three significant digits, no exponent.
pub fn sig3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `412 Mmsg/s (380M–430M)`: median with unit, then the spread.
pub fn si_spread(s: &Summary, unit: &str) -> String {
    format!(
        "{}{unit} ({}–{})",
        si(s.median),
        si_bare(s.min),
        si_bare(s.max)
    )
}

fn si_bare(v: f64) -> String {
    si(v).replace(' ', "")
}

/// `1.23×` style ratio with spread.
pub fn ratio_spread(s: &Summary) -> String {
    format!("{}× ({}–{})", sig3(s.median), sig3(s.min), sig3(s.max))
}

/// Milliseconds with spread: `3.1 ms (2.9–4.0)`.
pub fn ms_spread(s: &Summary) -> String {
    format!("{} ms ({}–{})", sig3(s.median), sig3(s.min), sig3(s.max))
}
