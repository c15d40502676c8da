//! Printing and reading indicia: PDF417 (the paper's symbology) or Data Matrix (modern
//! postage), through rxing, with binary payloads carried byte for byte.
//!
//! rxing's text API carries bytes as the characters U+0000–U+00FF with BYTE compaction and no
//! character-set hint, which every independent decoder reads back byte-exactly. Reading tries
//! the scan as it is, then binarized (Otsu's threshold) and enlarged; PDF417 decoders fail
//! beyond a few degrees of skew, so for PDF417 it then tries small rotations before giving up.
//! Data Matrix reads at any rotation.

use std::collections::HashSet;

use image::{DynamicImage, GrayImage, Luma};
use rxing::{BarcodeFormat, DecodeHints, EncodeHintValue, EncodeHints, MultiFormatWriter, Writer};

use crate::error::{Error, Result};

/// A 2-D symbology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Symbology {
    /// PDF417, as the IBIP indicia and Tygar's design used.
    Pdf417,
    /// Data Matrix (ECC 200), as modern postage uses.
    Datamatrix,
}

impl Symbology {
    fn format(self) -> BarcodeFormat {
        match self {
            Symbology::Pdf417 => BarcodeFormat::PDF_417,
            Symbology::Datamatrix => BarcodeFormat::DATA_MATRIX,
        }
    }
}

/// How a symbol is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// The symbology.
    pub symbology: Symbology,
    /// Pixels per module (PDF417 rows are 4 modules tall).
    pub module: u32,
    /// White border, in modules.
    pub quiet_zone: u32,
    /// PDF417 error-correction level, 0–8 (ignored for Data Matrix, which fixes its own).
    pub ec_level: u8,
}

impl Style {
    /// The defaults for `symbology`: 3 px per module for PDF417 and 4 for Data Matrix (whose
    /// smaller symbol at 3 px does not survive a scan's blur of σ 1.5), quiet zone 2 modules,
    /// PDF417 error-correction level 5.
    pub fn of(symbology: Symbology) -> Style {
        let module = match symbology {
            Symbology::Pdf417 => 3,
            Symbology::Datamatrix => 4,
        };
        Style { symbology, module, quiet_zone: 2, ec_level: 5 }
    }
}

impl Default for Style {
    /// PDF417, at [`Style::of`]'s defaults.
    fn default() -> Style {
        Style::of(Symbology::Pdf417)
    }
}

/// Draws `payload` as a symbol.
pub fn draw(payload: &[u8], style: &Style) -> Result<GrayImage> {
    if style.ec_level > 8 {
        return Err(Error::usage("the PDF417 error-correction level is 0 to 8"));
    }
    if !(1..=20).contains(&style.module) || style.quiet_zone > 50 {
        return Err(Error::usage("module size must be 1-20 px and the quiet zone at most 50 modules"));
    }
    let text: String = payload.iter().map(|&b| char::from(b)).collect();
    let hints = EncodeHints::default()
        .with(EncodeHintValue::ErrorCorrection(style.ec_level.to_string()))
        .with(EncodeHintValue::Pdf417Compaction("2".into()))
        .with(EncodeHintValue::Margin("0".into()));
    let matrix = MultiFormatWriter
        .encode_with_hints(&text, &style.symbology.format(), 0, 0, &hints)
        .map_err(|e| Error::refused(format!("cannot encode the symbol: {e}")))?;
    let bare = DynamicImage::from(&matrix).to_luma8();
    let (m, q) = (style.module, style.quiet_zone * style.module);
    let mut out = GrayImage::from_pixel(bare.width() * m + 2 * q, bare.height() * m + 2 * q, Luma([255]));
    for (x, y, p) in bare.enumerate_pixels() {
        if p.0[0] < 128 {
            for dy in 0..m {
                for dx in 0..m {
                    out.put_pixel(q + x * m + dx, q + y * m + dy, Luma([0]));
                }
            }
        }
    }
    Ok(out)
}

/// Angles (degrees) tried in turn when a PDF417 symbol does not read square.
const DESKEW: [f32; 14] = [2.0, -2.0, 4.0, -4.0, 6.0, -6.0, 8.0, -8.0, 10.0, -10.0, 12.0, -12.0, 15.0, -15.0];

/// Reads one symbol of any of `symbologies` from an image and returns its payload bytes. The
/// cheap attempts come first (the image, then binarized, then enlarged, each for every
/// symbology in turn); only then is a PDF417 symbol sought at the deskew angles (Data Matrix
/// reads at any angle).
pub fn read(image: &DynamicImage, symbologies: &[Symbology]) -> Result<Vec<u8>> {
    let attempt = |img: &DynamicImage, symbology: Symbology| -> Option<Vec<u8>> {
        let mut hints = DecodeHints { TryHarder: Some(true), ..Default::default() };
        hints.PossibleFormats = Some(HashSet::from([symbology.format()]));
        let result =
            rxing::helpers::detect_in_image_with_hints(img.clone(), Some(symbology.format()), &mut hints).ok()?;
        result.getText().chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
    };
    if let Some(bytes) = symbologies.iter().find_map(|s| attempt(image, *s)) {
        return Ok(bytes);
    }
    let gray = image.to_luma8();
    // A blurred or noisy scan often reads once binarized with one global threshold, and a
    // small one once enlarged.
    let binarized = imageproc::contrast::threshold(
        &gray,
        imageproc::contrast::otsu_level(&gray),
        imageproc::contrast::ThresholdType::Binary,
    );
    let enlarged =
        image::imageops::resize(&gray, gray.width() * 2, gray.height() * 2, image::imageops::FilterType::Triangle);
    for candidate in [binarized, enlarged].map(DynamicImage::ImageLuma8) {
        if let Some(bytes) = symbologies.iter().find_map(|s| attempt(&candidate, *s)) {
            return Ok(bytes);
        }
    }
    if symbologies.contains(&Symbology::Pdf417) {
        for degrees in DESKEW {
            let turned = imageproc::geometric_transformations::rotate_about_center(
                &gray,
                degrees.to_radians(),
                imageproc::geometric_transformations::Interpolation::Bilinear,
                Luma([255]),
            );
            if let Some(bytes) = attempt(&DynamicImage::ImageLuma8(turned), Symbology::Pdf417) {
                return Ok(bytes);
            }
        }
    }
    Err(Error::refused("no readable symbol in the image"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_value_round_trips_in_both_symbologies() {
        let payload: Vec<u8> = (0..=255u8).collect();
        for symbology in [Symbology::Pdf417, Symbology::Datamatrix] {
            let image = draw(&payload[..150], &Style::of(symbology)).unwrap();
            assert_eq!(read(&DynamicImage::ImageLuma8(image), &[symbology]).unwrap(), &payload[..150], "{symbology:?}");
        }
        let rest = draw(&payload[150..], &Style::default()).unwrap();
        assert_eq!(read(&DynamicImage::ImageLuma8(rest), &[Symbology::Pdf417]).unwrap(), &payload[150..]);
    }
}
