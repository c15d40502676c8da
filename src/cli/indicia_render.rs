//! `indicia-render`: print an indicium as a barcode image.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use image::{GrayImage, Luma};

use crate::cli::{self, Clock};
use crate::error::{Error, Result, ResultExt};
use crate::fsio;
use crate::postage::barcode::{self, Style, Symbology};
use crate::postage::indicium::Indicium;
use crate::postage::record;

/// Render a signed indicium as a PNG: the compact binary record in a PDF417 (or Data Matrix)
/// symbol, next to a human-readable block (postage, date, meter id, origin postal code,
/// piece number).
#[derive(Debug, Parser)]
pub struct Args {
    /// The indicium (as `meter print` writes it)
    #[arg(value_name = "INDICIUM", default_value = "-")]
    indicium: PathBuf,
    /// The PNG to write
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// The symbology
    #[arg(long, value_enum, default_value = "pdf417")]
    symbology: Symbology,
    /// Pixels per module [default: 3 for PDF417, 4 for Data Matrix]
    #[arg(long)]
    module: Option<u32>,
    /// White border around the symbol, in modules
    #[arg(long, default_value_t = 2)]
    quiet_zone: u32,
    /// PDF417 error-correction level (0-8)
    #[arg(long, default_value_t = 5)]
    ec_level: u8,
    #[command(flatten)]
    clock: Clock,
}

crate::cli::entry_points!("indicia-render", |a: Args| run(&a));

/// Draws `text` in the 8×8 font at `scale`, top-left at (x, y).
fn draw_text(img: &mut GrayImage, x: u32, y: u32, text: &str, scale: u32) {
    use font8x8::UnicodeFonts;
    for (n, c) in text.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS.get(c).unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let (px, py) = (x + (n as u32 * 8 + col) * scale + dx, y + row as u32 * scale + dy);
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, Luma([0]));
                            }
                        }
                    }
                }
            }
        }
    }
}

fn run(a: &Args) -> Result<ExitCode> {
    let indicium = cli::read_signed::<Indicium>(&a.indicium)?;
    let payload = record::encode(&indicium).at(cli::display(&a.indicium))?;
    let module = a.module.unwrap_or(Style::of(a.symbology).module);
    let style = Style { symbology: a.symbology, module, quiet_zone: a.quiet_zone, ec_level: a.ec_level };
    let symbol = barcode::draw(&payload, &style)?;
    let i = indicium.unverified();
    let lines = [
        format!("POSTAGE {}", i.postage),
        i.date.to_string(),
        format!("METER {}", i.meter_id),
        format!("FROM {}", i.origin_postal_code),
        format!("PIECE {}", i.sequence),
    ];
    let scale = 2;
    let text_width = lines.iter().map(|l| l.len() as u32).max().unwrap_or(0) * 8 * scale + 16;
    let text_height = lines.len() as u32 * 10 * scale + 16;
    let mut out = GrayImage::from_pixel(symbol.width() + text_width, symbol.height().max(text_height), Luma([255]));
    image::imageops::replace(&mut out, &symbol, 0, 0);
    for (n, line) in lines.iter().enumerate() {
        draw_text(&mut out, symbol.width() + 8, 8 + n as u32 * 10 * scale, line, scale);
    }
    let mut png = Vec::new();
    out.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::new(crate::ErrorKind::Io, format!("encoding the PNG: {e}")))?;
    fsio::write_atomic(&a.output, &png)?;
    Ok(ExitCode::SUCCESS)
}
