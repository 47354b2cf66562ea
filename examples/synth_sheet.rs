//! Draws the contact sheet of the built-in synthetic dataset (`docs/synth.png`): one row
//! per identity, three photos then one caricature in each drawing style.
//!
//! cargo run --release --example synth_sheet -- [OUT.png] [SIZE] [SEED] [ROWS]

use cari::batch::Modality;
use cari::data::synth::{Drawing, Style, SynthConfig, SynthFaces};
use cari::data::{Dataset, RgbImage};

const PHOTOS: usize = 3;
const GAP: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args.first().map_or("docs/synth.png", String::as_str);
    let size: usize = args.get(1).map_or(Ok(112), |s| s.parse())?;
    let seed: u64 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let rows: usize = args.get(3).map_or(Ok(8), |s| s.parse())?;
    let faces = SynthFaces::new(SynthConfig { seed, identities: rows.max(2), size, ..SynthConfig::default() })?;
    let columns = PHOTOS + Style::ALL.len();
    let (width, height) = (columns * (size + GAP) + GAP, rows * (size + GAP) + GAP);
    let mut sheet = vec![255u8; width * height * 3];
    for row in 0..rows {
        let photos = (0..PHOTOS).map(|k| faces.load(faces.index_of(row, Modality::Photo, k)));
        let drawings = Style::ALL.iter().enumerate().map(|(k, &style)| {
            Ok(faces.render_caricature(row, Drawing { style, exaggeration: 2.2 }, (row * columns + k) as u64))
        });
        for (col, image) in photos.chain(drawings).enumerate() {
            paste(&mut sheet, width, &image?, GAP + col * (size + GAP), GAP + row * (size + GAP));
        }
    }
    image::save_buffer(out, &sheet, width as u32, height as u32, image::ExtendedColorType::Rgb8)?;
    let styles: Vec<&str> = Style::ALL.iter().map(|s| s.name()).collect();
    println!("wrote {out}: {rows} identities × ({PHOTOS} photos, {}) at {size} px", styles.join(", "));
    Ok(())
}

fn paste(sheet: &mut [u8], width: usize, image: &RgbImage, x: usize, y: usize) {
    for row in 0..image.height {
        let src = &image.pixels[row * image.width * 3..][..image.width * 3];
        sheet[((y + row) * width + x) * 3..][..image.width * 3].copy_from_slice(src);
    }
}
