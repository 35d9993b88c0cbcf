//! The PNG chart: one block of horizontal bars per scenario and payload,
//! each bar scaled to the largest of its block, its figure written beside it.
//!
//! Text needs a TrueType font: the first found of `RINGMQ_BENCH_FONT` and
//! the DejaVu / Liberation fonts of the Debian packages `fonts-dejavu-core`
//! and `fonts-liberation2`. Without one the bars are drawn without text and
//! a warning says so (the table and JSON carry the same figures).

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

pub struct Bar {
    pub label: String,
    /// Length of the bar (throughput: higher is better; latency: lower).
    pub value: f64,
    /// What is written beside the bar.
    pub text: String,
    pub is_ringmq: bool,
}

pub struct Block {
    pub title: String,
    pub bars: Vec<Bar>,
}

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a font as "sans"; false if none was found.
fn load_font() -> bool {
    let mut paths: Vec<String> = std::env::var("RINGMQ_BENCH_FONT").into_iter().collect();
    paths.extend(FONT_PATHS.iter().map(|p| p.to_string()));
    for p in paths {
        if let Ok(bytes) = std::fs::read(&p) {
            // The font registry keeps a reference for the process's life.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if register_font("sans", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

const ROW: i32 = 20;
const HEAD: i32 = 30;
const WIDTH: i32 = 1000;
const LABEL_W: i32 = 230;
const TEXT_W: i32 = 230;

/// Draws `blocks` into a PNG at `path`; returns whether text was drawn.
pub fn draw(path: &std::path::Path, title: &str, blocks: &[Block]) -> Result<bool, String> {
    let with_text = load_font();
    let height = 50
        + blocks
            .iter()
            .map(|b| HEAD + ROW * b.bars.len() as i32 + 10)
            .sum::<i32>();
    let root = BitMapBackend::new(path, (WIDTH as u32, height as u32)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| format!("drawing the chart: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let ringmq = RGBColor(200, 60, 40);
    let peer = RGBColor(70, 110, 170);
    if with_text {
        root.draw(&Text::new(
            title.to_owned(),
            (10, 12),
            ("sans", 18).into_font(),
        ))
        .map_err(e)?;
    }
    let mut y = 50;
    for block in blocks {
        if with_text {
            root.draw(&Text::new(
                block.title.clone(),
                (10, y + 6),
                ("sans", 15).into_font(),
            ))
            .map_err(e)?;
        }
        y += HEAD;
        let max = block.bars.iter().map(|b| b.value).fold(0.0, f64::max);
        let span = (WIDTH - LABEL_W - TEXT_W - 20) as f64;
        for bar in &block.bars {
            let len = if max > 0.0 {
                ((bar.value / max) * span).max(1.0) as i32
            } else {
                1
            };
            let color = if bar.is_ringmq { ringmq } else { peer };
            root.draw(&Rectangle::new(
                [(LABEL_W, y + 2), (LABEL_W + len, y + ROW - 3)],
                color.filled(),
            ))
            .map_err(e)?;
            if with_text {
                let font = ("sans", 13).into_font();
                root.draw(&Text::new(bar.label.clone(), (20, y + 3), font.clone()))
                    .map_err(e)?;
                root.draw(&Text::new(
                    bar.text.clone(),
                    (LABEL_W + len + 8, y + 3),
                    font,
                ))
                .map_err(e)?;
            }
            y += ROW;
        }
        y += 10;
    }
    root.present().map_err(e)?;
    Ok(with_text)
}
