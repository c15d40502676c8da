//! Decode rates of printed indicia under the degradations of real scans, per symbology.
//!
//! `cargo bench --bench robustness` (or `scripts/robustness`). A ~150-byte indicium record is
//! drawn as PDF417 and as Data Matrix (3 px/module, quiet zone 2), placed on a white envelope
//! corner, degraded (rotation, scaling, blur, noise, JPEG compression, a smudge) with several
//! random variants each, and read back with the same code as `indicia-verify` (which deskews
//! PDF417). Prints the share of variants read byte-exactly.

#![allow(missing_docs)]

use image::{DynamicImage, GrayImage, Luma};
use imageproc::geometric_transformations::{Interpolation, rotate_about_center};

use atomic_commerce::postage::barcode::{self, Style, Symbology};

const VARIANTS: usize = 20;

fn envelope(symbol: &GrayImage) -> GrayImage {
    let mut page = GrayImage::from_pixel(symbol.width() + 240, symbol.height() + 240, Luma([255]));
    image::imageops::replace(&mut page, symbol, 120, 120);
    page
}

fn jpeg(img: &GrayImage, quality: u8) -> GrayImage {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(img).unwrap();
    image::load_from_memory(&bytes).unwrap().to_luma8()
}

fn noise(img: &GrayImage, sigma: f32) -> GrayImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        // Sum of uniforms: close enough to Gaussian for a degradation model.
        let n: f32 = (0..6).map(|_| rand::random::<f32>() - 0.5).sum::<f32>() * sigma * std::f32::consts::SQRT_2;
        p.0[0] = (f32::from(p.0[0]) + n).clamp(0.0, 255.0) as u8;
    }
    out
}

fn smudge(img: &GrayImage, symbol_width: u32, symbol_height: u32) -> GrayImage {
    let mut out = img.clone();
    let (w, h) = (symbol_width / 12, symbol_height / 3);
    let x0 = 120 + rand::random_range(0..symbol_width - w);
    let y0 = 120 + rand::random_range(0..symbol_height - h);
    let ink = if rand::random::<bool>() { 0 } else { 255 };
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            out.put_pixel(x, y, Luma([ink]));
        }
    }
    out
}

fn main() {
    let payload: Vec<u8> = (0..150u32).map(|i| (i * 37 % 256) as u8).collect();
    type Degrade = Box<dyn Fn(&GrayImage, u32, u32) -> GrayImage>;
    let rotate = |lo: f32, hi: f32| -> Degrade {
        Box::new(move |img, _, _| {
            let degrees = lo + (hi - lo) * rand::random::<f32>();
            let sign = if rand::random::<bool>() { 1.0 } else { -1.0 };
            rotate_about_center(img, (sign * degrees).to_radians(), Interpolation::Bilinear, Luma([255]))
        })
    };
    let scale = |f: f32| -> Degrade {
        Box::new(move |img, _, _| {
            let (w, h) = ((img.width() as f32 * f) as u32, (img.height() as f32 * f) as u32);
            image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle)
        })
    };
    let degradations: Vec<(&str, Degrade)> = vec![
        ("none", Box::new(|img, _, _| img.clone())),
        ("rotated 0-3 deg", rotate(0.0, 3.0)),
        ("rotated 3-6 deg", rotate(3.0, 6.0)),
        ("rotated 6-10 deg", rotate(6.0, 10.0)),
        ("rotated 10-15 deg", rotate(10.0, 15.0)),
        ("scaled x0.66", scale(0.66)),
        ("scaled x0.5", scale(0.5)),
        ("blurred sigma 1.0", Box::new(|img, _, _| imageproc::filter::gaussian_blur_f32(img, 1.0))),
        ("blurred sigma 1.5", Box::new(|img, _, _| imageproc::filter::gaussian_blur_f32(img, 1.5))),
        ("noise sigma 20", Box::new(|img, _, _| noise(img, 20.0))),
        ("noise sigma 40", Box::new(|img, _, _| noise(img, 40.0))),
        ("JPEG quality 30", Box::new(|img, _, _| jpeg(img, 30))),
        ("JPEG quality 10", Box::new(|img, _, _| jpeg(img, 10))),
        ("smudged (8% x 33% blot)", Box::new(smudge)),
        (
            "scan: 4 deg + blur 1 + noise 20 + JPEG 40",
            Box::new(|img, _, _| {
                let turned = rotate_about_center(img, 4f32.to_radians(), Interpolation::Bilinear, Luma([255]));
                jpeg(&noise(&imageproc::filter::gaussian_blur_f32(&turned, 1.0), 20.0), 40)
            }),
        ),
    ];
    println!("{:<44} {:>8} {:>12}", "degradation", "PDF417", "Data Matrix");
    for (name, degrade) in &degradations {
        let mut rates = Vec::new();
        for symbology in [Symbology::Pdf417, Symbology::Datamatrix] {
            let symbol = barcode::draw(&payload, &Style::of(symbology)).unwrap();
            let page = envelope(&symbol);
            let read = (0..VARIANTS)
                .filter(|_| {
                    let degraded = degrade(&page, symbol.width(), symbol.height());
                    barcode::read(&DynamicImage::ImageLuma8(degraded), &[symbology]).is_ok_and(|b| b == payload)
                })
                .count();
            rates.push(format!("{:>3}/{VARIANTS}", read));
        }
        println!("{name:<44} {:>8} {:>12}", rates[0], rates[1]);
    }
}
