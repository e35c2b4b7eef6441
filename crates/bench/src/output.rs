//! What a run shows and keeps: progress bars on stderr while it runs, plain result lines on
//! stdout as each scenario ends (scripts read them), a summary table at the end, and JSON under
//! `target/bench/`.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// One scenario's result: its summary rows, its full JSON, and how long it took.
#[derive(Debug)]
pub struct Outcome {
    /// The scenario's name, also its JSON file's (`<name>.json`).
    pub scenario: &'static str,
    /// Wall-clock time of the whole scenario, set-up included.
    pub took: Duration,
    /// `(measure, value)` rows for the summary table.
    pub rows: Vec<(String, String)>,
    /// Everything measured, as written to `<name>.json`.
    pub json: Value,
}

/// The progress display and the plain lines printed under it.
#[derive(Debug, Clone)]
pub struct Ui {
    bars: MultiProgress,
}

impl Ui {
    /// Bars on stderr; indicatif hides them when stderr is not a terminal.
    pub fn new() -> Self {
        Self {
            bars: MultiProgress::new(),
        }
    }

    /// A bar of `len` steps (or a spinner counting up when `None`), named `name`, showing the
    /// elapsed time, the count and the rate.
    pub fn bar(&self, name: &str, len: Option<u64>, unit: &str) -> ProgressBar {
        let template = match len {
            Some(_) => format!(
                "{{prefix:>11.bold}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit} \
                 ({{per_sec}}) {{msg}}"
            ),
            None => format!(
                "{{prefix:>11.bold}} [{{elapsed_precise}}] {{spinner}} {{pos}} {unit} \
                 ({{per_sec}}) {{msg}}"
            ),
        };
        let style = ProgressStyle::with_template(&template).expect("a valid progress template");
        let bar = match len {
            Some(len) => ProgressBar::new(len),
            None => ProgressBar::no_length(),
        };
        let bar = self
            .bars
            .add(bar.with_style(style).with_prefix(name.to_owned()));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// Prints `text` on stdout without tearing the bars.
    pub fn line(&self, text: impl AsRef<str>) {
        self.bars.suspend(|| println!("{}", text.as_ref()));
    }
}

/// Where results go: `--out`, else `$CARGO_TARGET_DIR/bench`, else `<workspace>/target/bench`.
pub fn out_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_owned();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("bench")
}

/// The workspace this bench was built in (`crates/bench` is two levels down).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_owned()
}

/// Writes `value` as pretty JSON to `dir/name.json`; returns the path.
pub fn write_json(dir: &Path, name: &str, value: &Value) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the results directory");
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).expect("results as JSON");
    std::fs::write(&path, text + "\n").expect("write the results");
    path
}

/// The JSON of one scenario, with when and where it ran.
pub fn scenario_json(outcome: &Outcome) -> Value {
    json!({
        "scenario": outcome.scenario,
        "took_s": outcome.took.as_secs_f64(),
        "machine": machine(),
        "result": outcome.json,
    })
}

/// The machine a run was on: cores, and the time it finished (seconds since the epoch).
pub fn machine() -> Value {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let finished = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({ "cores": cores, "finished_unix_s": finished })
}

/// The summary table of every outcome: one row per measure, the scenario and its duration on
/// its first row.
pub fn summary_table(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(vec!["scenario", "took", "measure", "value"]);
    for outcome in outcomes {
        for (i, (measure, value)) in outcome.rows.iter().enumerate() {
            let (name, took) = if i == 0 {
                (
                    outcome.scenario.to_owned(),
                    format!("{:.0} s", outcome.took.as_secs_f64()),
                )
            } else {
                (String::new(), String::new())
            };
            table.add_row(vec![name, took, measure.clone(), value.clone()]);
        }
    }
    table
}
