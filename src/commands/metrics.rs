//! `metrics`: the app's series (`crate::metrics::read`) as text charts, a
//! row per measure: a sparkline of its points (`▁` to `█`, from zero to
//! the row's highest; a blank where there is nothing to show, such as a
//! percentile of a minute without requests), then its min, max and last
//! value, so it reads the same without colour. `--json` prints the series
//! as data (`metrics::AppSeries`).

use std::collections::BTreeMap;

use super::Ctx;
use crate::cli::{Format, MetricsCommand};
use crate::duration;
use crate::error::{Error, Result};
use crate::metrics::{self, AppSeries};
use crate::output;
use crate::slug::human_size;

/// Points a chart has by default: a sparkline fits a terminal's width.
const POINTS: u64 = 60;

pub fn run(ctx: &Ctx, command: MetricsCommand) -> Result<()> {
    match command {
        MetricsCommand::Show {
            since,
            step,
            format,
        } => show(ctx, &since, step.as_deref(), format),
    }
}

fn show(ctx: &Ctx, since: &str, step: Option<&str>, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let back = parse_duration(since, "--since")?;
    if back > metrics::KEPT_SECS {
        return Err(Error::new(format!(
            "metrics go back 7 days, not {}",
            duration::human(back)
        ))
        .hint("ask for `--since 7d` or less"));
    }
    let step = match step {
        Some(text) => parse_duration(text, "--step")?,
        None => default_step(back),
    };
    let now = u64::try_from(crate::crashes::now()).unwrap_or(0);
    let series = metrics::read(&ctx.root, &app.name, now - back, now, step)?;
    if format.json {
        return output::print_json(&series);
    }
    output::header(&format!(
        "{} metrics, the last {}: a point every {} ({} to {} UTC)",
        series.app,
        duration::human(back),
        duration::human(series.step_secs),
        clock_time(series.since),
        clock_time(series.until),
    ));
    for line in chart_lines(&series) {
        println!("{line}");
    }
    Ok(())
}

fn parse_duration(text: &str, option: &str) -> Result<u64> {
    duration::parse(text).map_err(|message| {
        Error::new(message).hint(format!("for example `{option} 1h`, or `{option} 7d`"))
    })
}

/// Whole minutes that make at most `POINTS` points of `back`.
fn default_step(back: u64) -> u64 {
    back.div_ceil(POINTS).div_ceil(60).max(1) * 60
}

fn clock_time(unix: u64) -> String {
    let Ok(time) = time::OffsetDateTime::from_unix_timestamp(unix as i64) else {
        return "?".into();
    };
    let format = time::macros::format_description!("[month]-[day] [hour]:[minute]");
    time.format(&format).unwrap_or_default()
}

/// One chart: what it shows, its values (None: nothing to show there),
/// how a value reads, and what follows (the total, a quota).
struct Row {
    label: String,
    values: Vec<Option<f64>>,
    show: fn(f64) -> String,
    tail: String,
}

fn count(value: f64) -> String {
    format!("{value:.0}")
}

fn millis(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.0} ms")
    }
}

fn bytes(value: f64) -> String {
    human_size(value as u64)
}

fn percent(value: f64) -> String {
    format!("{value:.1}%")
}

fn counts(label: &str, values: impl Iterator<Item = u64>) -> Row {
    let values: Vec<Option<f64>> = values.map(|value| Some(value as f64)).collect();
    let total: f64 = values.iter().flatten().sum();
    Row {
        label: label.to_string(),
        values,
        show: count,
        tail: format!("  total {total:.0}"),
    }
}

fn rows(series: &AppSeries) -> Vec<Row> {
    let points = &series.points;
    let mut rows = vec![counts("requests", points.iter().map(|p| p.requests))];
    for (class, name) in ["2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
        rows.push(counts(
            &format!("  {name}"),
            points.iter().map(|p| p.status[class]),
        ));
    }
    let codes: std::collections::BTreeSet<&String> = points
        .iter()
        .flat_map(|point| point.router_errors.keys())
        .collect();
    for code in codes {
        rows.push(counts(
            &format!("router {code}"),
            points
                .iter()
                .map(|p| p.router_errors.get(code).copied().unwrap_or(0)),
        ));
    }
    for (label, pick) in [
        (
            "p50",
            (|p| p.p50_ms) as fn(&metrics::AppPoint) -> Option<f64>,
        ),
        ("p95", |p| p.p95_ms),
        ("p99", |p| p.p99_ms),
    ] {
        rows.push(Row {
            label: format!("response {label}"),
            values: points.iter().map(pick).collect(),
            show: millis,
            tail: String::new(),
        });
    }
    let mut bytes_out = counts("bytes out", points.iter().map(|p| p.bytes_out));
    bytes_out.show = bytes;
    let total: f64 = bytes_out.values.iter().flatten().sum();
    bytes_out.tail = format!("  total {}", bytes(total));
    rows.push(bytes_out);

    // Each dyno's points, in the series' buckets.
    let index_of = |start: u64| ((start - series.since) / series.step_secs) as usize;
    let mut dynos: BTreeMap<&str, DynoCharts> = BTreeMap::new();
    for point in &series.dynos {
        let charts = dynos.entry(&point.dyno).or_insert_with(|| DynoCharts {
            memory: vec![None; points.len()],
            cpu: vec![None; points.len()],
            quota: None,
        });
        let index = index_of(point.start);
        if index < points.len() {
            charts.memory[index] = Some(point.rss_bytes as f64);
            charts.cpu[index] = Some(point.cpu_percent);
        }
        charts.quota = point.quota_bytes.or(charts.quota);
    }
    for (dyno, charts) in dynos {
        rows.push(Row {
            label: format!("{dyno} memory"),
            values: charts.memory,
            show: bytes,
            tail: charts.quota.map_or(String::new(), |quota| {
                format!("  quota {}", human_size(quota))
            }),
        });
        rows.push(Row {
            label: format!("{dyno} cpu"),
            values: charts.cpu,
            show: percent,
            tail: String::new(),
        });
    }
    rows
}

/// A dyno's two rows, and its quota if one is enforced.
struct DynoCharts {
    memory: Vec<Option<f64>>,
    cpu: Vec<Option<f64>>,
    quota: Option<u64>,
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `▁▃█ ▂`: each value's height from zero to the highest.
fn sparkline(values: &[Option<f64>]) -> String {
    let highest = values.iter().flatten().copied().fold(0.0, f64::max);
    values
        .iter()
        .map(|value| match value {
            None => ' ',
            Some(_) if highest <= 0.0 => BARS[0],
            Some(value) => {
                let level = (value / highest * (BARS.len() - 1) as f64).round() as usize;
                BARS[level.min(BARS.len() - 1)]
            }
        })
        .collect()
}

fn chart_lines(series: &AppSeries) -> Vec<String> {
    let rows = rows(series);
    let width = rows
        .iter()
        .map(|row| row.label.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|row| {
            let known: Vec<f64> = row.values.iter().flatten().copied().collect();
            let summary = match (
                known.iter().copied().reduce(f64::min),
                known.iter().copied().reduce(f64::max),
                row.values.last().copied().flatten(),
            ) {
                (Some(min), Some(max), last) => format!(
                    "min {}  max {}  last {}{}",
                    (row.show)(min),
                    (row.show)(max),
                    last.map_or("-".to_string(), row.show),
                    row.tail
                ),
                _ => "no data".to_string(),
            };
            format!(
                "{:width$}  {}  {summary}",
                row.label,
                sparkline(&row.values)
            )
            .trim_end()
            .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{AppPoint, DynoPoint};

    fn point(start: u64, requests: u64, p99: Option<f64>) -> AppPoint {
        AppPoint {
            start,
            requests,
            status: [requests, 0, 0, 0],
            router_errors: BTreeMap::new(),
            p50_ms: p99,
            p95_ms: p99,
            p99_ms: p99,
            bytes_out: requests * 1024,
        }
    }

    #[test]
    fn steps_make_at_most_sixty_points() {
        assert_eq!(default_step(3600), 60);
        assert_eq!(default_step(600), 60);
        assert_eq!(default_step(86_400), 1440);
        assert_eq!(default_step(7 * 86_400), 10_080);
    }

    #[test]
    fn sparklines_go_from_zero_to_the_highest_with_gaps_for_nothing() {
        assert_eq!(sparkline(&[Some(0.0), Some(4.0), None, Some(8.0)]), "▁▅ █");
        assert_eq!(sparkline(&[Some(0.0), Some(0.0)]), "▁▁");
        assert_eq!(sparkline(&[None]), " ");
    }

    #[test]
    fn charts_name_each_measure_with_min_max_and_last() {
        let mut slow = point(120, 2, Some(310.0));
        slow.status = [1, 0, 1, 0];
        slow.router_errors.insert("H12".into(), 1);
        let series = AppSeries {
            app: "shop".into(),
            step_secs: 60,
            since: 0,
            until: 150,
            points: vec![point(0, 4, Some(2.0)), point(60, 0, None), slow],
            dynos: vec![DynoPoint {
                start: 60,
                dyno: "web.1".into(),
                rss_bytes: 50 << 20,
                quota_bytes: Some(512 << 20),
                cpu_percent: 3.0,
            }],
        };
        let lines = chart_lines(&series);
        let find = |label: &str| {
            lines
                .iter()
                .find(|line| line.starts_with(label))
                .unwrap_or_else(|| panic!("no `{label}` in {lines:#?}"))
                .clone()
        };
        assert!(
            find("requests").ends_with("min 0  max 4  last 2  total 6"),
            "{lines:#?}"
        );
        assert!(find("  4xx").contains("total 1"));
        assert!(find("router H12").contains("max 1"));
        let p99 = find("response p99");
        assert!(
            p99.contains("▁ █"),
            "a gap for the minute without requests: {p99}"
        );
        assert!(p99.contains("max 310 ms  last 310 ms"), "{p99}");
        assert!(find("web.1 memory").ends_with("max 50.0 MB  last -  quota 512.0 MB"));
        assert!(find("web.1 cpu").contains("max 3.0%"));
    }
}
