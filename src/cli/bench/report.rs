//! The benchmark's output: a table for people, JSON for scripts.

/// One measured figure on each stack (`None` where it does not apply or
/// could not be measured).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Metric {
    /// Stable identifier, e.g. `bulk_mtu1500`.
    pub name: String,
    /// Unit of the three values.
    pub unit: &'static str,
    /// synfin's median.
    pub synfin: Option<f64>,
    /// smoltcp's median.
    pub smoltcp: Option<f64>,
    /// The kernel's median.
    pub kernel: Option<f64>,
    /// Whether a larger value is better (throughput) or worse (memory).
    pub higher_is_better: bool,
}

impl Metric {
    /// A metric row.
    pub fn new(
        name: String,
        unit: &'static str,
        synfin: Option<f64>,
        smoltcp: Option<f64>,
        kernel: Option<f64>,
        higher_is_better: bool,
    ) -> Metric {
        Metric {
            name,
            unit,
            synfin,
            smoltcp,
            kernel,
            higher_is_better,
        }
    }

    /// synfin / smoltcp, when both were measured.
    pub fn ratio(&self) -> Option<f64> {
        match (self.synfin, self.smoltcp) {
            (Some(a), Some(b)) if b != 0.0 => Some(a / b),
            _ => None,
        }
    }
}

/// Memory figures of one stack.
#[derive(Copy, Clone, Debug)]
pub struct Memory {
    /// Bytes per idle established connection, buffers not counted.
    pub idle_without_buffers: f64,
    /// Bytes per idle established connection with the default buffers.
    pub idle_with_buffers: f64,
    /// Bytes per TIME-WAIT record.
    pub time_wait_record: f64,
}

/// `100k`, `1M`, `2500`.
pub fn count_label(n: u64) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn cell(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(x) if x.abs() >= 100_000.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 100.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}

/// The table: metric, synfin, smoltcp, kernel, synfin/smoltcp.
pub fn table(metrics: &[Metric]) -> String {
    let mut rows = vec![[
        "metric".to_string(),
        "synfin".into(),
        "smoltcp".into(),
        "kernel".into(),
        "synfin/smoltcp".into(),
    ]];
    for m in metrics {
        rows.push([
            format!("{} ({})", m.name, m.unit),
            cell(m.synfin),
            cell(m.smoltcp),
            cell(m.kernel),
            m.ratio().map_or("—".into(), |r| format!("{r:.2}×")),
        ]);
    }
    let mut w = [0usize; 5];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (k, r) in rows.iter().enumerate() {
        for (i, c) in r.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            if i == 0 {
                out.push_str(c);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            }
        }
        out.push('\n');
        if k == 0 {
            let total: usize = w.iter().sum::<usize>() + 2 * (w.len() - 1);
            out.push_str(&"─".repeat(total));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_labels() {
        let m = vec![
            Metric::new("bulk".into(), "Gbit/s", Some(3.0), Some(2.0), None, true),
            Metric::new("x".into(), "B", Some(1.0), None, None, false),
        ];
        let t = table(&m);
        assert!(t.contains("1.50×"), "{t}");
        assert!(t.lines().nth(3).unwrap().contains('—'));
        assert_eq!(count_label(100_000), "100k");
        assert_eq!(count_label(1_000_000), "1M");
        assert_eq!(count_label(2500), "2500");
    }
}
