//! Patients behind file names, and splits that keep each patient's images together.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::seq::index::sample;

/// The patient a ZhangLab file name belongs to: `person123_bacteria_456` → `person123`,
/// `IM-0115-0001` → `IM-0115`, `NORMAL2-IM-0381-0001` → `NORMAL2-IM-0381`. `None` for other
/// names (each such image counts as its own patient).
pub fn patient_id(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    if let Some(rest) = stem.strip_prefix("person") {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        return (digits > 0 && rest[digits..].starts_with('_'))
            .then(|| format!("person{}", &rest[..digits]));
    }
    let (prefix, rest) = match stem.strip_prefix("NORMAL2-") {
        Some(rest) => ("NORMAL2-", rest),
        None => ("", stem),
    };
    let mut parts = rest.split('-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("IM"), Some(patient), Some(_))
            if !patient.is_empty() && patient.chars().all(|c| c.is_ascii_digit()) =>
        {
            Some(format!("{prefix}IM-{patient}"))
        }
        _ => None,
    }
}

/// What a carve took.
pub(crate) struct Carve {
    /// The images carved.
    pub images: Vec<PathBuf>,
    /// Patients carved.
    pub patients: usize,
    /// Patients a carve of single images would have split.
    pub image_carve_would_split: usize,
}

/// Moves about `fraction` of `pool`'s images, whole patients at a time, out of `pool`; both parts
/// stay sorted.
pub(crate) fn carve_by_patient(pool: &mut Vec<PathBuf>, fraction: f64, rng: &mut StdRng) -> Carve {
    let target = ((pool.len() as f64) * fraction).round() as usize;
    let key = |path: &PathBuf| patient_id(path).unwrap_or_else(|| path.display().to_string());
    // What carving single images with the same seed would have done, to report what it splits.
    let mut image_rng = rng.clone();
    let single: Vec<usize> = sample(&mut image_rng, pool.len(), target).into_vec();
    let mut carved_of: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, path) in pool.iter().enumerate() {
        let entry = carved_of.entry(key(path)).or_default();
        if single.contains(&i) {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    let image_carve_would_split = carved_of.values().filter(|(c, k)| *c > 0 && *k > 0).count();

    let mut patients: Vec<String> = carved_of.into_keys().collect();
    patients.shuffle(rng);
    let mut size: HashMap<String, usize> = HashMap::new();
    for path in pool.iter() {
        *size.entry(key(path)).or_default() += 1;
    }
    let mut chosen = HashSet::new();
    let mut taken = 0;
    for patient in patients {
        if taken >= target {
            break;
        }
        taken += size[&patient];
        chosen.insert(patient);
    }
    let (carved, kept): (Vec<PathBuf>, Vec<PathBuf>) =
        pool.drain(..).partition(|p| chosen.contains(&key(p)));
    *pool = kept;
    Carve {
        images: carved,
        patients: chosen.len(),
        image_carve_would_split,
    }
}
