//! Patients behind file names, and splits that keep each patient's images together.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use wscxr_image::Xray;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::seq::index::sample;

/// The patient a ZhangLab file name belongs to: `person123_bacteria_456` → `person123`,
/// `IM-0115-0001` → `IM-0115`, `NORMAL2-IM-0381-0001` → `NORMAL2-IM-0381`; and an NIH
/// ChestX-ray14 file name, `00013118_008` → `00013118`. `None` for other names (each such image
/// counts as its own patient).
pub fn patient_id(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    if let Some((patient, follow_up)) = stem.split_once('_')
        && patient.len() == 8
        && follow_up.len() == 3
        && patient
            .chars()
            .chain(follow_up.chars())
            .all(|c| c.is_ascii_digit())
    {
        return Some(patient.to_string());
    }
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

/// What names an image's patient in a carve: its file name, or an in-memory radiograph's name
/// read as one; a name without a patient counts as its own patient.
pub(crate) trait PatientKey {
    fn patient_key(&self) -> String;
}

impl PatientKey for Path {
    fn patient_key(&self) -> String {
        patient_id(self).unwrap_or_else(|| self.display().to_string())
    }
}

impl PatientKey for PathBuf {
    fn patient_key(&self) -> String {
        self.as_path().patient_key()
    }
}

impl PatientKey for Xray {
    fn patient_key(&self) -> String {
        match self {
            Xray::File(path) => path.patient_key(),
            Xray::Decoded(_) => PathBuf::from(self.name().into_owned()).patient_key(),
        }
    }
}

/// What a carve took.
pub(crate) struct Carve<T> {
    /// The images carved.
    pub images: Vec<T>,
    /// Patients carved.
    pub patients: usize,
    /// Patients a carve of single images would have split.
    pub image_carve_would_split: usize,
}

/// Moves about `fraction` of `pool`'s images, whole patients at a time, out of `pool`; both parts
/// stay sorted.
pub(crate) fn carve_by_patient<T: PatientKey>(
    pool: &mut Vec<T>,
    fraction: f64,
    rng: &mut StdRng,
) -> Carve<T> {
    let target = ((pool.len() as f64) * fraction).round() as usize;
    let key = T::patient_key;
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
    let (carved, kept): (Vec<T>, Vec<T>) = pool.drain(..).partition(|p| chosen.contains(&key(p)));
    *pool = kept;
    Carve {
        images: carved,
        patients: chosen.len(),
        image_carve_would_split,
    }
}
