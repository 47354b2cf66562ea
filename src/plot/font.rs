//! The figure's font, DejaVu Sans compiled into the binary so the PNG's text renders on a
//! machine without font files or font libraries.

use crate::{Error, Result};
use plotters::style::{register_font, FontStyle};
use std::sync::OnceLock;

/// The family the figure asks for. The SVG names it too, so an SVG viewer uses its own
/// sans-serif face.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the embedded faces under [`FAMILY`] (once per process).
pub(crate) fn register() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold()).is_ok()
    });
    if registered {
        Ok(())
    } else {
        Err(Error::invalid("the plot's embedded font (DejaVu Sans)", "not a readable font file"))
    }
}
