//! Progress of the long commands (`demo`, `backfill`, `normalize`, `replay`) on stderr.
//!
//! On a terminal: a bar with the rate and the time left, drawn by indicatif. Anywhere else (a
//! log file, CI, a pipe): the plain lines the commands always printed, at most one a second,
//! so a log stays readable. With `--quiet`: nothing. The commands' results go to stdout either
//! way.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// stderr is a terminal: an indicatif bar.
    Bar,
    /// stderr is a file or a pipe: a plain line at most once a second.
    Lines,
    /// `--quiet`.
    Off,
}

/// Lines at most this often when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(1);

/// The progress of one command: one bar (or line) at a time.
pub struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// Progress shown as stderr allows: a bar on a terminal, lines elsewhere, nothing if `quiet`.
    pub fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        let now = Instant::now();
        Progress { mode, bar: None, started: now, last_line: now }
    }

    /// Starts a bar over `total` bytes: `message [=====>    ] 12.0 MiB/40.0 MiB 80 MiB/s ETA 1s`.
    pub fn start_bytes(&mut self, total: u64, message: &str) {
        self.start(Some(total), "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}", message);
    }

    /// Starts a bar over `total` things named `unit`: `message [===>  ] 40/127 batches 31/s ETA 3s`.
    pub fn start_count(&mut self, total: u64, unit: &str, message: &str) {
        let template = format!("{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} {{per_sec:0}} ETA {{eta}}");
        self.start(Some(total), &template, message);
    }

    /// Starts a counter of things named `unit` without a known end (a stream being read):
    /// `⠋ message 1,200 records 400/s 3s`.
    pub fn start_open(&mut self, unit: &str, message: &str) {
        let template = format!("{{spinner}} {{msg}} {{human_pos}} {unit} {{per_sec:0}} {{elapsed}}");
        self.start(None, &template, message);
    }

    fn start(&mut self, total: Option<u64>, template: &str, message: &str) {
        self.finish();
        self.started = Instant::now();
        self.last_line = self.started;
        if self.mode != Mode::Bar {
            return;
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        // The templates are fixed text: they always parse.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_owned());
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        self.bar = Some(bar);
    }

    /// Moves to `position`. On a terminal the bar follows; elsewhere `line` (given the seconds
    /// since the start) is printed, at most once a second.
    pub fn set(&mut self, position: u64, line: impl FnOnce(f64) -> String) {
        match self.mode {
            Mode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(position);
                }
            }
            Mode::Lines if self.last_line.elapsed() >= LINE_EVERY => {
                self.last_line = Instant::now();
                eprintln!("{}", line(self.started.elapsed().as_secs_f64()));
            }
            Mode::Lines | Mode::Off => {}
        }
    }

    /// Adds `n` to the position (the bar follows; nothing is printed elsewhere: see
    /// [`Progress::line`]).
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// A line for a log: printed when stderr is not a terminal (every time, not once a
    /// second), left out on a terminal, where the bar shows the same.
    pub fn line(&self, text: &str) {
        if self.mode == Mode::Lines {
            eprintln!("{text}");
        }
    }

    /// Changes the bar's message (on a terminal only; lines carry their own text).
    pub fn set_message(&self, message: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(message);
        }
    }

    /// Prints a line that stays: above the bar on a terminal, as it is elsewhere, not with
    /// `--quiet`.
    pub fn println(&self, line: &str) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.println(line),
            (None, Mode::Off) => {}
            (None, _) => eprintln!("{line}"),
        }
    }

    /// Takes the bar away (its last state is not left on the screen: the command's summary
    /// follows).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
