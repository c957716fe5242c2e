//! Pictures people look at: an X-ray at its own resolution with its anomaly map overlaid on a
//! fixed colour scale, and a colour bar that says what the colours mean.

use image::{DynamicImage, Rgb, RgbImage};
use plotters::prelude::*;
use wscxr_image::Radiograph;

use crate::WscxrError;
use crate::anomaly_map::AnomalyMap;
pub use crate::calibration::ColourScale;
use crate::fitted_detector::{Detector, ScoredImage};
use crate::localisation::FindingBox;
use crate::plot::{FONT, register_font};

/// A "jet"-like colour (blue, cyan, yellow, red) for `t` in [0, 1].
pub fn colour(t: f32) -> [f32; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let r = (1.5 - (4.0 * t - 3.0).abs()).clamp(0.0, 1.0);
    let g = (1.5 - (4.0 * t - 2.0).abs()).clamp(0.0, 1.0);
    let b = (1.5 - (4.0 * t - 1.0).abs()).clamp(0.0, 1.0);
    [r, g, b]
}

fn rgb(t: f32) -> Rgb<u8> {
    Rgb(colour(t).map(|c| (c * 255.0).round() as u8))
}

/// `image` in gray at its own resolution with `map` (an anomaly map of the same size) blended in
/// colour on `scale`.
pub fn overlay(
    image: &DynamicImage,
    map: &AnomalyMap,
    scale: &ColourScale,
) -> Result<RgbImage, WscxrError> {
    let (width, height) = (image.width(), image.height());
    if (map.height(), map.width()) != (height as usize, width as usize) {
        return Err(WscxrError::invalid(
            "anomaly map",
            format!("{} x {}", map.height(), map.width()),
            format!("must have the image's {height} x {width} pixels"),
        ));
    }
    if map.values().iter().any(|v| v.is_nan()) {
        return Err(WscxrError::invalid(
            "anomaly map",
            "NaN",
            "holds NaN values",
        ));
    }
    let gray = image.to_luma8();
    Ok(RgbImage::from_fn(width, height, |x, y| {
        let g = gray.get_pixel(x, y).0[0] as f32 / 255.0;
        let heat = colour(scale.position(map.at(y as usize, x as usize)));
        Rgb(heat.map(|h| ((0.55 * g + 0.45 * h) * 255.0).round() as u8))
    }))
}

/// Draws radiologists' boxes on `picture`: white outlines inside each box's edge, 2 pixels wide
/// (more on images larger than 512 pixels), clipped to the picture.
pub fn draw_boxes(picture: &mut RgbImage, boxes: &[FindingBox]) {
    let (width, height) = (picture.width() as i64, picture.height() as i64);
    let line = (width.max(height) / 256).max(2);
    let mut fill = |xs: std::ops::Range<i64>, ys: std::ops::Range<i64>| {
        for y in ys.start.max(0)..ys.end.min(height) {
            for x in xs.start.max(0)..xs.end.min(width) {
                picture.put_pixel(x as u32, y as u32, Rgb([255, 255, 255]));
            }
        }
    };
    for found in boxes {
        let (x0, y0) = (found.x.round() as i64, found.y.round() as i64);
        let x1 = (found.x + found.width).round().max(found.x.round() + 1.0) as i64;
        let y1 = (found.y + found.height).round().max(found.y.round() + 1.0) as i64;
        fill(x0..x1, y0..(y0 + line).min(y1));
        fill(x0..x1, (y1 - line).max(y0)..y1);
        fill(x0..(x0 + line).min(x1), y0..y1);
        fill((x1 - line).max(x0)..x1, y0..y1);
    }
}

/// `picture` with a colour bar on its right: the scale from blue (`low`) to red (`high`) and
/// their values, with the calibrated threshold marked when there is one.
pub fn with_colour_bar(picture: &RgbImage, scale: &ColourScale) -> Result<RgbImage, WscxrError> {
    let scale = scale.checked()?;
    let (width, height) = picture.dimensions();
    let font_px = (height / 28).clamp(11, 40);
    let bar = (width / 28).clamp(10, 48);
    let margin = font_px / 2;
    let label_width = font_px * 5;
    let total = width + margin + bar + margin + label_width;
    let mut out = RgbImage::from_pixel(total, height, Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, picture, 0, 0);
    let (top, bottom) = (font_px, height.saturating_sub(font_px).max(font_px + 1));
    let x0 = width + margin;
    for y in top..bottom {
        let t = 1.0 - (y - top) as f32 / (bottom - top - 1).max(1) as f32;
        for x in x0..x0 + bar {
            out.put_pixel(x, y, rgb(t));
        }
    }
    let at = |score: f32| bottom - 1 - ((bottom - top - 1) as f32 * scale.position(score)) as u32;
    let mut marks = vec![
        (scale.high, "", at(scale.high)),
        (scale.low, "", at(scale.low)),
    ];
    if let Some(t) = scale.threshold {
        // A calibrated scale tops out at its threshold: one label says both, not two overlapping.
        let y = at(t);
        marks.retain(|&(_, _, other)| other.abs_diff(y) >= font_px);
        marks.push((t, "thr ", y));
    }
    register_font();
    let text_error = |e: String| WscxrError::invalid("colour bar", "text", e);
    {
        let root = BitMapBackend::with_buffer(out.as_mut(), (total, height)).into_drawing_area();
        let style = TextStyle::from((FONT, font_px as f64).into_font()).color(&BLACK);
        for (value, prefix, y) in marks {
            let y = y as i32;
            root.draw(&PathElement::new(
                vec![(x0 as i32, y), ((x0 + bar + margin / 2) as i32, y)],
                BLACK.stroke_width(1),
            ))
            .map_err(|e| text_error(e.to_string()))?;
            let label = format!("{prefix}{}", short_number(value));
            let text_y = (y - font_px as i32 / 2).clamp(0, (height - font_px) as i32);
            root.draw_text(&label, &style, ((x0 + bar + margin) as i32, text_y))
                .map_err(|e| text_error(e.to_string()))?;
        }
        root.present().map_err(|e| text_error(e.to_string()))?;
    }
    Ok(out)
}

/// A score in three significant digits, short enough for the bar's labels.
fn short_number(value: f32) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let digits = (2 - value.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{value:.digits$}")
}

impl Detector {
    /// `scored`'s anomaly map ([`ScoredImage::map`]) overlaid on the detector's fixed colour
    /// scale, and a colour bar on the right. `radiograph` is the image `scored` came from: pass
    /// the decoded one back to avoid decoding it again.
    pub fn heatmap(
        &self,
        radiograph: &Radiograph,
        scored: &ScoredImage,
    ) -> Result<RgbImage, WscxrError> {
        self.heatmap_with_boxes(radiograph, scored, &[])
    }

    /// [`Detector::heatmap`] with radiologists' `boxes` (in the radiograph's pixels) outlined.
    pub fn heatmap_with_boxes(
        &self,
        radiograph: &Radiograph,
        scored: &ScoredImage,
        boxes: &[FindingBox],
    ) -> Result<RgbImage, WscxrError> {
        let size = [radiograph.height() as usize, radiograph.width() as usize];
        self.heatmap_of_map(radiograph, &scored.map(size)?, boxes)
    }

    /// The heatmap of an anomaly map already at the radiograph's size.
    pub(crate) fn heatmap_of_map(
        &self,
        radiograph: &Radiograph,
        map: &AnomalyMap,
        boxes: &[FindingBox],
    ) -> Result<RgbImage, WscxrError> {
        let mut picture = overlay(radiograph.pixels(), map, &self.colour_scale)?;
        draw_boxes(&mut picture, boxes);
        with_colour_bar(&picture, &self.colour_scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly_map::MapSettings;

    #[test]
    fn scale_runs_from_the_normal_median_to_the_threshold_or_normal_maximum() {
        let normals = [-2.0, -1.0, -0.5, 0.0, 3.0];
        let scale = ColourScale::from_normals(&normals, None).unwrap();
        assert_eq!((scale.low, scale.high, scale.threshold), (-0.5, 3.0, None));
        assert_eq!(scale.position(-9.0), 0.0);
        assert_eq!(scale.position(3.5), 1.0);
        assert!((scale.position(1.25) - 0.5).abs() < 1e-6);
        assert!(ColourScale::from_normals(&[f32::NAN, 1.0], None).is_err());
        assert!(ColourScale::from_normals(&[], None).is_err());
    }

    #[test]
    fn overlay_keeps_the_image_size_and_colours_by_the_fixed_scale() {
        let image =
            DynamicImage::ImageLuma8(image::GrayImage::from_pixel(300, 200, image::Luma([128])));
        let scale = ColourScale {
            low: 0.0,
            high: 1.0,
            threshold: None,
        };
        // Left half of the map low, right half high.
        let grid: Vec<f32> = (0..16 * 16)
            .map(|i| if i % 16 < 8 { -5.0 } else { 5.0 })
            .collect();
        let settings = MapSettings {
            input_size: 64,
            sigma: 0.0,
        };
        let map = AnomalyMap::from_patch_scores(&grid, [16, 16], settings, [200, 300]).unwrap();
        let out = overlay(&image, &map, &scale).unwrap();
        assert_eq!(out.dimensions(), (300, 200));
        let (left, right) = (out.get_pixel(10, 100).0, out.get_pixel(290, 100).0);
        assert!(left[2] > left[0], "left is blue: {left:?}");
        assert!(right[0] > right[2], "right is red: {right:?}");
        // The same map on a scale twice as wide is less red: the scale, not the map, decides.
        let wide = ColourScale {
            high: 20.0,
            ..scale
        };
        let washed = overlay(&image, &map, &wide).unwrap().get_pixel(290, 100).0;
        assert!(washed[0] < right[0], "{washed:?} vs {right:?}");
        let other_size = AnomalyMap::new(200, 299, vec![0.0; 200 * 299]).unwrap();
        assert!(overlay(&image, &other_size, &scale).is_err());
        let nan = AnomalyMap::new(200, 300, vec![f32::NAN; 200 * 300]).unwrap();
        assert!(overlay(&image, &nan, &scale).is_err());
    }

    #[test]
    fn boxes_are_drawn_as_white_outlines_clipped_to_the_picture() {
        let mut picture = RgbImage::from_pixel(100, 80, Rgb([0, 0, 0]));
        let found = |x, y, width, height| FindingBox {
            finding: "Mass".into(),
            x,
            y,
            width,
            height,
        };
        draw_boxes(
            &mut picture,
            &[found(10.0, 20.0, 30.0, 40.0), found(90.0, 70.0, 50.0, 50.0)],
        );
        let white = |x, y| picture.get_pixel(x, y).0 == [255, 255, 255];
        assert!(white(10, 20) && white(39, 59) && white(25, 21) && white(11, 40));
        assert!(!white(25, 40), "the inside stays");
        assert!(!white(9, 20) && !white(40, 40), "outside the edge stays");
        assert!(
            white(90, 75) && white(99, 70),
            "a box past the edge is clipped"
        );
    }

    #[test]
    fn colour_bar_sits_right_of_the_picture_from_blue_to_red() {
        let picture = RgbImage::from_pixel(280, 280, Rgb([10, 20, 30]));
        let scale = ColourScale {
            low: -1.0,
            high: 2.0,
            threshold: Some(0.5),
        };
        let out = with_colour_bar(&picture, &scale).unwrap();
        assert!(out.width() > 280);
        assert_eq!(out.height(), 280);
        assert_eq!(out.get_pixel(0, 0).0, [10, 20, 30]);
        let x = 280 + 5 + 3;
        let (top, bottom) = (out.get_pixel(x, 15).0, out.get_pixel(x, 262).0);
        assert!(
            top[0] > 100 && top[1] < 60 && top[2] < 60,
            "top is red: {top:?}"
        );
        assert!(
            bottom[2] > 100 && bottom[0] < 60,
            "bottom is blue: {bottom:?}"
        );
        // The labels drew dark pixels into the white margin.
        let dark = (x + 12..out.width())
            .flat_map(|x| (0..280).map(move |y| (x, y)))
            .filter(|&(x, y)| out.get_pixel(x, y).0[0] < 100)
            .count();
        assert!(dark > 30, "{dark} dark label pixels");
        assert!(with_colour_bar(&picture, &ColourScale { low: 3.0, ..scale }).is_err());
    }

    /// With the threshold at the top of the scale (a calibrated detector), the top label is drawn
    /// once: "thr 2.00" alone has more ink than "2.00" and less than both drawn over each other.
    #[test]
    fn a_threshold_at_the_top_is_labelled_once() {
        let picture = RgbImage::from_pixel(280, 280, Rgb([10, 20, 30]));
        let dark = |scale: ColourScale| {
            let out = with_colour_bar(&picture, &scale).unwrap();
            (300..out.width())
                .flat_map(|x| (0..40).map(move |y| (x, y)))
                .filter(|&(x, y)| out.get_pixel(x, y).0[0] < 100)
                .count()
        };
        let uncalibrated = ColourScale {
            low: -1.0,
            high: 2.0,
            threshold: None,
        };
        let calibrated = ColourScale {
            threshold: Some(2.0),
            ..uncalibrated
        };
        let (plain, marked) = (dark(uncalibrated), dark(calibrated));
        println!("top label ink: {plain} plain, {marked} with the threshold");
        assert!(plain > 10, "the top label is drawn: {plain}");
        assert!(marked > plain && marked < 2 * plain, "{marked} vs {plain}");
    }

    #[test]
    fn short_numbers_keep_three_significant_digits() {
        assert_eq!(short_number(-0.51234), "-0.512");
        assert_eq!(short_number(12.345), "12.3");
        assert_eq!(short_number(1234.4), "1234");
        assert_eq!(short_number(0.0), "0");
    }
}
