//! Draws the desktop demo's two recorded timelines side by side, one
//! above the other, as a PNG: a lane of frame lifetimes (from the tick that
//! spawned a frame to the end of its last poll), then one lane per worker
//! with each poll colored by what the task is (frame, background job,
//! maintenance or autosave), parks in light grey. The same time window of
//! each run is drawn, so the two panels compare directly.
//!
//! Drawn with embedded-graphics (shapes and its built-in bitmap fonts, so
//! no system font is needed) on a plain RGB buffer, encoded with `png`.

use echo_std::task::TaskId;
use echo_std::timeline::{Timeline, TimelineEvent};
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::ascii::{FONT_6X10, FONT_9X15_BOLD};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::Text;
use std::collections::HashMap;
use std::convert::Infallible;

/// What a task is in the demo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The task that spawns a frame on each tick (drawn as a frame, but
    /// not a frame itself).
    Ticker,
    Frame,
    Background,
    Maintenance,
    Autosave,
}

impl Role {
    const ALL: [Role; 4] = [
        Role::Frame,
        Role::Background,
        Role::Maintenance,
        Role::Autosave,
    ];

    fn color(self) -> Rgb888 {
        match self {
            Role::Frame | Role::Ticker => Rgb888::new(220, 40, 40),
            Role::Background => Rgb888::new(60, 110, 200),
            Role::Maintenance => Rgb888::new(40, 160, 80),
            Role::Autosave => Rgb888::new(150, 90, 190),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Frame => "UI frame",
            Role::Ticker => "frame ticker",
            Role::Background => "background job",
            Role::Maintenance => "maintenance",
            Role::Autosave => "autosave",
        }
    }
}

/// One run to draw.
pub struct Panel<'a> {
    pub title: String,
    pub timeline: &'a Timeline,
    pub roles: &'a HashMap<TaskId, Role>,
    /// Each frame's (tick, end of its last poll), platform-clock nanos.
    pub frames: Vec<(u64, u64)>,
    /// Where the window starts, in nanoseconds after the run's start.
    pub window_start: u64,
}

const WIDTH: u32 = 1600;
const LEFT: i32 = 110;
const LANE: u32 = 34;
const GAP: u32 = 8;
const BLACK: Rgb888 = Rgb888::new(20, 20, 20);
const GREY: Rgb888 = Rgb888::new(120, 120, 120);
const PARK: Rgb888 = Rgb888::new(225, 225, 225);

/// An RGB image that embedded-graphics draws on.
struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(
        &mut self,
        pixels: I,
    ) -> Result<(), Infallible> {
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && (p.x as u32) < self.width && (p.y as u32) < self.height {
                let i = 3 * (p.y as usize * self.width as usize + p.x as usize);
                self.pixels[i..i + 3].copy_from_slice(&[c.r(), c.g(), c.b()]);
            }
        }
        Ok(())
    }
}

fn rect(c: &mut Canvas, x: i32, y: i32, w: u32, h: u32, color: Rgb888) {
    let _ = Rectangle::new(Point::new(x, y), Size::new(w.max(1), h))
        .into_styled(PrimitiveStyle::with_fill(color))
        .draw(c);
}

fn text(c: &mut Canvas, s: &str, x: i32, y: i32, bold: bool, color: Rgb888) {
    let style = if bold {
        MonoTextStyle::new(&FONT_9X15_BOLD, color)
    } else {
        MonoTextStyle::new(&FONT_6X10, color)
    };
    let _ = Text::new(s, Point::new(x, y), style).draw(c);
}

/// Draws `panels` (each over `window` nanoseconds) into a PNG at `path`.
pub fn render(path: &std::path::Path, panels: &[Panel<'_>], window: u64) -> std::io::Result<()> {
    let workers = panels
        .iter()
        .map(|p| p.timeline.workers.len())
        .max()
        .unwrap_or(1) as u32;
    let panel_height = 30 + (workers + 1) * (LANE + GAP) + 24;
    let height = 40 + panels.len() as u32 * panel_height + 30;
    let mut c = Canvas {
        width: WIDTH,
        height,
        pixels: vec![255; (WIDTH * height * 3) as usize],
    };
    let plot_width = WIDTH as i32 - LEFT - 20;
    let x_of = |t: u64| LEFT + ((t as f64 / window as f64) * plot_width as f64) as i32;
    text(
        &mut c,
        &format!(
            "Echo desktop demo: the same {:.0} ms of each run, one lane per worker",
            window as f64 / 1e6
        ),
        LEFT,
        22,
        true,
        BLACK,
    );
    // The legend.
    let mut lx = LEFT + 700;
    for role in Role::ALL {
        rect(&mut c, lx, 12, 14, 12, role.color());
        text(&mut c, role.name(), lx + 18, 22, false, BLACK);
        lx += 30 + 6 * role.name().len() as i32;
    }
    rect(&mut c, lx, 12, 14, 12, PARK);
    text(&mut c, "parked", lx + 18, 22, false, BLACK);

    for (k, panel) in panels.iter().enumerate() {
        let top = 40 + k as i32 * panel_height as i32;
        let mut lives: Vec<u64> = panel.frames.iter().map(|&(s, e)| e - s).collect();
        lives.sort_unstable();
        let at = |q: f64| {
            lives
                .get(((lives.len().max(1) - 1) as f64 * q) as usize)
                .copied()
                .unwrap_or(0)
        };
        text(
            &mut c,
            &format!(
                "{}: frame tick to drawn p50 {:.2} ms, p99 {:.2} ms",
                panel.title,
                at(0.5) as f64 / 1e6,
                at(0.99) as f64 / 1e6
            ),
            10,
            top + 20,
            true,
            BLACK,
        );
        let t0 = panel.timeline.started_nanos + panel.window_start;
        let t1 = t0 + window;
        let clip = |start: u64, end: u64| -> Option<(i32, u32)> {
            if end <= t0 || start >= t1 {
                return None;
            }
            let (a, b) = (start.max(t0) - t0, end.min(t1) - t0);
            let x = x_of(a);
            Some((x, (x_of(b) - x).max(2) as u32))
        };
        // Frames: tick to drawn.
        let lane_top = top + 30;
        text(&mut c, "frames", 10, lane_top + 20, false, BLACK);
        rect(
            &mut c,
            LEFT,
            lane_top,
            plot_width as u32,
            LANE,
            Rgb888::new(248, 248, 248),
        );
        // Each frame's life as a thin line, in one of five rows so that
        // frames alive at once stay apart; a black mark at its tick.
        let mut sorted = panel.frames.clone();
        sorted.sort_unstable();
        for (n, &(start, end)) in sorted.iter().enumerate() {
            if let Some((x, w)) = clip(start, end) {
                let row = (n % 5) as i32;
                rect(&mut c, x, lane_top + 5 + row * 6, w, 4, Role::Frame.color());
            }
            if let Some((x, _)) = clip(start, start + 1) {
                rect(&mut c, x, lane_top, 2, LANE, BLACK);
            }
        }
        for (w, worker) in panel.timeline.workers.iter().enumerate() {
            let y = lane_top + (w as i32 + 1) * (LANE + GAP) as i32;
            text(&mut c, &format!("worker {w}"), 10, y + 20, false, BLACK);
            rect(
                &mut c,
                LEFT,
                y,
                plot_width as u32,
                LANE,
                Rgb888::new(248, 248, 248),
            );
            for event in &worker.events {
                match *event {
                    TimelineEvent::Park { start, nanos } => {
                        if let Some((x, wd)) = clip(start, start + nanos) {
                            rect(&mut c, x, y, wd, LANE, PARK);
                        }
                    }
                    TimelineEvent::Poll {
                        task, start, nanos, ..
                    } => {
                        let role = panel.roles.get(&task).copied().unwrap_or(Role::Background);
                        if let Some((x, wd)) = clip(start, start + nanos) {
                            // Frames drawn over the full lane, the rest a
                            // little shorter, so a frame's sliver shows.
                            if matches!(role, Role::Frame | Role::Ticker) {
                                rect(&mut c, x, y, wd.max(3), LANE, role.color());
                            } else {
                                rect(&mut c, x, y + 4, wd, LANE - 8, role.color());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        // The time axis.
        let axis = lane_top + (workers as i32 + 1) * (LANE + GAP) as i32;
        let step = 10_000_000u64;
        let mut t = 0;
        while t <= window {
            let x = x_of(t);
            rect(&mut c, x, axis - 4, 1, 6, GREY);
            text(
                &mut c,
                &format!("{} ms", t / 1_000_000),
                x - 8,
                axis + 12,
                false,
                GREY,
            );
            t += step;
        }
    }
    text(
        &mut c,
        "Black marks: frame ticks; red lines: each frame from its tick to its last poll. \
         Polls of frames are drawn at least 3 px wide. Drawn by examples/support/timeline_png.rs \
         from Scheduler::timeline().",
        LEFT,
        height as i32 - 10,
        false,
        GREY,
    );

    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, WIDTH, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(&c.pixels)
        .map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)
}
