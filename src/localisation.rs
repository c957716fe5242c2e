//! Localisation: does an anomaly map point at what radiologists boxed? The pointing game (is the
//! map's maximum inside a box), its chance level, the share of the map's top pixels inside boxes,
//! and a pixel AUROC of inside-box against outside-box pixels.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::WscxrError;
use crate::anomaly_map::AnomalyMap;
use crate::metrics::auroc;

/// The share of a map's highest pixels whose place inside or outside the boxes is reported.
pub const TOP_SHARE: f64 = 0.05;
/// Boxes files larger than this are refused before they are read.
const MAX_BOXES_FILE_BYTES: u64 = 64 << 20;
/// Pixels per image side at most for the pixel AUROC: larger maps are sampled on a lattice, so
/// that a folder of full-resolution radiographs does not hold billions of pixels.
const PIXEL_AUROC_SIDE: usize = 256;

/// A radiologist's box around one finding, in the pixels of the image it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingBox {
    /// What was found (`Atelectasis`, `Nodule`, ...).
    pub finding: String,
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl FindingBox {
    /// Whether the centre of pixel `(row, column)` lies inside the box.
    pub fn contains(&self, row: usize, column: usize) -> bool {
        let (cy, cx) = (row as f64 + 0.5, column as f64 + 0.5);
        cx >= self.x && cx < self.x + self.width && cy >= self.y && cy < self.y + self.height
    }
}

/// Boxes read from a CSV with the columns `image,finding,x,y,w,h`, grouped by image in the order
/// the images first appear.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Boxes {
    images: Vec<(String, Vec<FindingBox>)>,
}

impl Boxes {
    /// Reads a boxes CSV. Refuses, naming the file and line, a missing column, a number that is
    /// not finite, and a box of no area.
    pub fn read(path: &Path) -> Result<Self, WscxrError> {
        let error = |reason: String| WscxrError::Data {
            path: path.into(),
            reason,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| error(e.to_string()))?
            .len();
        if size > MAX_BOXES_FILE_BYTES {
            return Err(error(format!(
                "{size} bytes: a boxes file is at most {MAX_BOXES_FILE_BYTES}"
            )));
        }
        let text = std::fs::read(path).map_err(|e| error(e.to_string()))?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(&text[..]);
        let headers = reader.headers().map_err(|e| error(e.to_string()))?.clone();
        let columns = ["image", "finding", "x", "y", "w", "h"];
        let index: Vec<usize> = columns
            .iter()
            .map(|&c| {
                headers
                    .iter()
                    .position(|h| h == c)
                    .ok_or_else(|| error(format!("no column `{c}` (need {})", columns.join(","))))
            })
            .collect::<Result<_, _>>()?;
        let mut boxes = Self::default();
        for (line, record) in reader.records().enumerate() {
            let line = line + 2;
            let record = record.map_err(|e| error(format!("line {line}: {e}")))?;
            let field = |i: usize| record.get(index[i]).unwrap_or("");
            let number = |i: usize| -> Result<f64, WscxrError> {
                field(i)
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        error(format!(
                            "line {line}: {} = `{}` is not a finite number",
                            columns[i],
                            field(i)
                        ))
                    })
            };
            let image = field(0).to_string();
            if image.is_empty() {
                return Err(error(format!("line {line}: no image named")));
            }
            let found = FindingBox {
                finding: field(1).to_string(),
                x: number(2)?,
                y: number(3)?,
                width: number(4)?,
                height: number(5)?,
            };
            if found.width <= 0.0 || found.height <= 0.0 {
                return Err(error(format!(
                    "line {line}: a box of {} x {} pixels has no area",
                    found.width, found.height
                )));
            }
            boxes.push(image, found);
        }
        if boxes.images.is_empty() {
            return Err(error("holds no box".into()));
        }
        Ok(boxes)
    }

    /// Adds a box to `image`'s.
    pub fn push(&mut self, image: impl Into<String>, found: FindingBox) {
        let image = image.into();
        match self.images.iter_mut().find(|(name, _)| *name == image) {
            Some((_, boxes)) => boxes.push(found),
            None => self.images.push((image, vec![found])),
        }
    }

    /// The images as named in the file, each with its boxes.
    pub fn images(&self) -> impl Iterator<Item = (&str, &[FindingBox])> {
        self.images.iter().map(|(n, b)| (n.as_str(), b.as_slice()))
    }

    /// The boxes of the image whose file name (or name as written) is `name`.
    pub fn of(&self, name: &str) -> Option<&[FindingBox]> {
        let file_name = |n: &str| {
            Path::new(n)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        };
        let wanted = file_name(name);
        self.images
            .iter()
            .find(|(n, _)| n == name || file_name(n) == wanted)
            .map(|(_, b)| b.as_slice())
    }

    /// The image files, each name resolved in `dir`; refuses a named image that is not there.
    pub fn image_paths(&self, dir: &Path) -> Result<Vec<PathBuf>, WscxrError> {
        self.images
            .iter()
            .map(|(name, _)| {
                let path = dir.join(name);
                if path.is_file() {
                    Ok(path)
                } else {
                    Err(WscxrError::Data {
                        path,
                        reason: "named in the boxes file but not found".into(),
                    })
                }
            })
            .collect()
    }

    /// Images with boxes.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there is no box.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

/// How one map fares against its image's boxes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageLocalisation {
    /// Whether the map's maximum lies in a box.
    pub hit: bool,
    /// Per finding on this image: whether the maximum lies in one of that finding's boxes.
    pub findings: Vec<(String, bool)>,
    /// The share of the image inside boxes: the pointing game's chance level on this image.
    pub box_share: f64,
    /// The share of the map's top [`TOP_SHARE`] pixels that lie inside boxes.
    pub top_share: f64,
}

/// Locates `map`'s maximum among `boxes` of the same image. Refuses a map with a NaN, and boxes
/// that miss the image entirely (most likely boxes of another resolution).
pub fn localise(map: &AnomalyMap, boxes: &[FindingBox]) -> Result<ImageLocalisation, WscxrError> {
    let (max, [row, column]) = map.argmax();
    if max.is_nan() {
        return Err(WscxrError::invalid(
            "anomaly map",
            "NaN",
            "has no maximum to point with",
        ));
    }
    let (height, width) = (map.height(), map.width());
    let inside = inside_mask(boxes, height, width);
    let boxed_pixels = inside.iter().filter(|&&i| i).count();
    if boxed_pixels == 0 {
        return Err(WscxrError::invalid(
            "boxes",
            format!("{boxes:?}"),
            format!("cover no pixel of a {height} x {width} map"),
        ));
    }
    let mut findings: Vec<(String, bool)> = Vec::new();
    for found in boxes {
        let hit = found.contains(row, column);
        match findings.iter_mut().find(|(f, _)| *f == found.finding) {
            Some((_, h)) => *h |= hit,
            None => findings.push((found.finding.clone(), hit)),
        }
    }
    let top = ((map.values().len() as f64 * TOP_SHARE).ceil() as usize).max(1);
    let mut order: Vec<usize> = (0..map.values().len()).collect();
    let values = map.values();
    order.select_nth_unstable_by(top - 1, |&a, &b| values[b].total_cmp(&values[a]));
    let top_inside = order[..top].iter().filter(|&&i| inside[i]).count();
    Ok(ImageLocalisation {
        hit: inside[row * width + column],
        findings,
        box_share: boxed_pixels as f64 / (height * width) as f64,
        top_share: top_inside as f64 / top as f64,
    })
}

fn inside_mask(boxes: &[FindingBox], height: usize, width: usize) -> Vec<bool> {
    let mut inside = vec![false; height * width];
    for found in boxes {
        // Only the rows and columns the box can reach are visited.
        let span = |start: f64, length: f64, limit: usize| {
            let first = (start - 0.5).ceil().max(0.0) as usize;
            let end = ((start + length - 0.5).ceil().max(0.0) as usize).min(limit);
            first..end
        };
        for r in span(found.y, found.height, height) {
            for c in span(found.x, found.width, width) {
                if found.contains(r, c) {
                    inside[r * width + c] = true;
                }
            }
        }
    }
    inside
}

/// Hits among the images carrying one finding.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FindingHits {
    /// Images whose map's maximum lay in one of this finding's boxes.
    pub hits: usize,
    /// Images with this finding.
    pub images: usize,
}

impl FindingHits {
    /// `hits / images`.
    pub fn rate(&self) -> f64 {
        self.hits as f64 / self.images as f64
    }
}

/// Localisation over a set of boxed images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Localisation {
    /// Boxed images.
    pub images: usize,
    /// The share of images whose map's maximum lies in one of their boxes.
    pub pointing_game: f64,
    /// The pointing game of each finding.
    pub per_finding: BTreeMap<String, FindingHits>,
    /// The pointing game of a maximum placed at random: the mean share of the image inside boxes.
    pub chance: f64,
    /// The mean share of each map's top [`TOP_SHARE`] pixels inside boxes.
    pub top_share: f64,
    /// AUROC of inside-box against outside-box pixels, pooled over the images (maps larger than
    /// 256 pixels a side are sampled on a lattice). `None` when every pixel is inside a box.
    pub pixel_auroc: Option<f64>,
}

/// Gathers [`localise`]'s results image by image, then sums them up.
#[derive(Debug, Clone, Default)]
pub struct LocalisationTally {
    results: Vec<ImageLocalisation>,
    pixel_scores: Vec<f32>,
    pixel_inside: Vec<bool>,
}

impl LocalisationTally {
    /// Localises one image's map among its boxes.
    pub fn add(&mut self, map: &AnomalyMap, boxes: &[FindingBox]) -> Result<(), WscxrError> {
        let result = localise(map, boxes)?;
        let (height, width) = (map.height(), map.width());
        let step = height.max(width).div_ceil(PIXEL_AUROC_SIDE).max(1);
        let inside = inside_mask(boxes, height, width);
        for r in (0..height).step_by(step) {
            for c in (0..width).step_by(step) {
                self.pixel_scores.push(map.at(r, c));
                self.pixel_inside.push(inside[r * width + c]);
            }
        }
        self.results.push(result);
        Ok(())
    }

    /// The localisation of every image added; `None` before the first.
    pub fn finish(&self) -> Option<Localisation> {
        let n = self.results.len();
        if n == 0 {
            return None;
        }
        let mean =
            |f: fn(&ImageLocalisation) -> f64| self.results.iter().map(f).sum::<f64>() / n as f64;
        let mut per_finding: BTreeMap<String, FindingHits> = BTreeMap::new();
        for result in &self.results {
            for (finding, hit) in &result.findings {
                let entry = per_finding
                    .entry(finding.clone())
                    .or_insert(FindingHits { hits: 0, images: 0 });
                entry.images += 1;
                entry.hits += usize::from(*hit);
            }
        }
        Some(Localisation {
            images: n,
            pointing_game: mean(|r| f64::from(u8::from(r.hit))),
            per_finding,
            chance: mean(|r| r.box_share),
            top_share: mean(|r| r.top_share),
            pixel_auroc: auroc(&self.pixel_scores, &self.pixel_inside),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(finding: &str, x: f64, y: f64, width: f64, height: f64) -> FindingBox {
        FindingBox {
            finding: finding.into(),
            x,
            y,
            width,
            height,
        }
    }

    /// A 10 x 10 map, zero but for a bump of `peak` at `(row, column)`.
    fn bump(row: usize, column: usize, peak: f32) -> AnomalyMap {
        let mut values = vec![0.0; 100];
        values[row * 10 + column] = peak;
        AnomalyMap::new(10, 10, values).unwrap()
    }

    #[test]
    fn the_maximum_inside_a_box_is_a_hit_and_outside_a_miss() {
        let boxes = [
            found("Nodule", 2.0, 3.0, 2.0, 2.0),
            found("Mass", 7.0, 7.0, 3.0, 3.0),
        ];
        let hit = localise(&bump(3, 2, 5.0), &boxes).unwrap();
        assert!(hit.hit);
        assert_eq!(
            hit.findings,
            vec![("Nodule".to_string(), true), ("Mass".to_string(), false)]
        );
        // 4 + 9 of 100 pixels are boxed.
        assert!((hit.box_share - 0.13).abs() < 1e-12, "{}", hit.box_share);
        // The top 5 pixels: the bump and the first four zeros in some order; at least the bump.
        assert!(hit.top_share >= 0.2, "{}", hit.top_share);
        let miss = localise(&bump(0, 9, 5.0), &boxes).unwrap();
        assert!(!miss.hit);
        assert!(miss.findings.iter().all(|(_, h)| !h));
        // A box edge: pixel (3, 4) has its centre at x = 4.5, outside [2, 4).
        assert!(!localise(&bump(3, 4, 5.0), &boxes).unwrap().hit);
    }

    #[test]
    fn top_share_counts_the_highest_pixels_in_boxes() {
        // 20 x 10 map: its top 5% are 10 pixels, the ramp's highest row (row 19).
        let values: Vec<f32> = (0..200).map(|i| i as f32).collect();
        let map = AnomalyMap::new(20, 10, values).unwrap();
        let left_half_of_last_row = [found("Effusion", 0.0, 19.0, 5.0, 1.0)];
        let result = localise(&map, &left_half_of_last_row).unwrap();
        assert_eq!(result.top_share, 0.5);
        assert!(
            !result.hit,
            "the maximum is the last pixel, in the right half"
        );
    }

    #[test]
    fn tally_sums_pointing_game_chance_and_pixel_auroc() {
        let boxes = [found("Nodule", 2.0, 3.0, 2.0, 2.0)];
        let mut tally = LocalisationTally::default();
        assert!(tally.finish().is_none());
        tally.add(&bump(3, 2, 5.0), &boxes).unwrap();
        tally.add(&bump(9, 9, 5.0), &boxes).unwrap();
        let summary = tally.finish().unwrap();
        assert_eq!(summary.images, 2);
        assert_eq!(summary.pointing_game, 0.5);
        assert_eq!(
            summary.per_finding["Nodule"],
            FindingHits { hits: 1, images: 2 }
        );
        assert!((summary.chance - 0.04).abs() < 1e-12);
        // Inside pixels: a 5 and seven zeros; outside: a 5 and 191 zeros (ties count one half).
        let auroc = summary.pixel_auroc.unwrap();
        assert!(auroc > 0.5 && auroc < 0.6, "{auroc}");
    }

    #[test]
    fn bad_maps_and_boxes_are_refused() {
        let boxes = [found("Nodule", 20.0, 20.0, 2.0, 2.0)];
        assert!(
            localise(&bump(0, 0, 1.0), &boxes).is_err(),
            "a box off the map"
        );
        let nan = AnomalyMap::new(1, 2, vec![0.0, f32::NAN]).unwrap();
        assert!(localise(&nan, &[found("Mass", 0.0, 0.0, 1.0, 1.0)]).is_err());
    }

    #[test]
    fn a_boxes_csv_is_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("wscxr-boxes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("boxes.csv");
        std::fs::write(
            &file,
            "image,finding,x,y,w,h\na.png,Mass,1,2,3,4\nb.png,Nodule,0.5,0.5,1,1\na.png,Effusion,5,5,2,2\n",
        )
        .unwrap();
        let boxes = Boxes::read(&file).unwrap();
        assert_eq!(boxes.len(), 2);
        assert_eq!(boxes.of("/elsewhere/a.png").unwrap().len(), 2);
        assert_eq!(
            boxes.of("b.png").unwrap()[0],
            found("Nodule", 0.5, 0.5, 1.0, 1.0)
        );
        assert!(boxes.of("c.png").is_none());
        for bad in [
            "image,finding,x,y,w\na.png,Mass,1,2,3\n",
            "image,finding,x,y,w,h\na.png,Mass,1,2,NaN,4\n",
            "image,finding,x,y,w,h\na.png,Mass,1,2,0,4\n",
            "image,finding,x,y,w,h\n",
        ] {
            std::fs::write(&file, bad).unwrap();
            let error = Boxes::read(&file).unwrap_err().to_string();
            assert!(error.contains("boxes.csv"), "{error}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
