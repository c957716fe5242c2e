//! Drawing with plotters into our own RGB buffers, with text in the bundled DejaVu Sans (so that
//! pictures look the same on every machine, with no system fonts needed).

use std::path::Path;
use std::sync::Once;

use image::RgbImage;
use plotters::prelude::*;

use crate::WscxrError;

/// The family name the bundled font is registered under.
pub(crate) const FONT: &str = "sans-serif";

/// DejaVu Sans (Bitstream Vera licence, see `assets/fonts/LICENSE-DejaVu.txt`).
static FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Registers the bundled font with plotters, once per process.
pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid font compiled in; should they not parse, text is left out.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

/// One ROC curve: its legend and its `(false positive rate, true positive rate)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct RocSeries {
    /// Shown in the legend, e.g. `seed 0 (AUROC 0.912)`.
    pub label: String,
    /// From `(0, 0)` to `(1, 1)`.
    pub points: Vec<[f64; 2]>,
}

/// Draws ROC curves on one chart, 640 x 640 px, with the chance diagonal, and writes it as PNG.
pub fn write_roc_png(path: &Path, title: &str, curves: &[RocSeries]) -> Result<(), WscxrError> {
    let image = roc_chart(title, curves)?;
    image.save(path).map_err(|e| WscxrError::Data {
        path: path.to_path_buf(),
        reason: format!("cannot write the ROC picture: {e}"),
    })
}

fn roc_chart(title: &str, curves: &[RocSeries]) -> Result<RgbImage, WscxrError> {
    const SIDE: u32 = 640;
    register_font();
    let error = |e: String| WscxrError::invalid("ROC chart", title, e);
    let mut image = RgbImage::new(SIDE, SIDE);
    {
        let root = BitMapBackend::with_buffer(image.as_mut(), (SIDE, SIDE)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| error(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(|e| error(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("false positive rate")
            .y_desc("true positive rate")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(|e| error(e.to_string()))?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                BLACK.mix(0.3).stroke_width(1),
            ))
            .map_err(|e| error(e.to_string()))?;
        for (i, curve) in curves.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    curve.points.iter().map(|p| (p[0], p[1])),
                    colour.stroke_width(2),
                ))
                .map_err(|e| error(e.to_string()))?
                .label(curve.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        if !curves.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()
                .map_err(|e| error(e.to_string()))?;
        }
        root.present().map_err(|e| error(e.to_string()))?;
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_chart_draws_each_curve_in_its_own_colour() {
        let curves = vec![
            RocSeries {
                label: "seed 0 (AUROC 1.000)".into(),
                points: vec![[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
            },
            RocSeries {
                label: "seed 1 (AUROC 0.500)".into(),
                points: vec![[0.0, 0.0], [1.0, 1.0]],
            },
        ];
        let image = roc_chart("K = 4", &curves).unwrap();
        let first = Palette99::pick(0).to_rgba();
        let matches = |c: &RGBAColor| image.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count();
        // The perfect curve runs up the left edge and along the top: hundreds of pixels.
        assert!(matches(&first) > 300, "{}", matches(&first));
        assert!(matches(&Palette99::pick(1).to_rgba()) > 100);
        // Text was drawn: axis labels and the title are black.
        assert!(image.pixels().filter(|p| p.0 == [0, 0, 0]).count() > 200);
    }
}
