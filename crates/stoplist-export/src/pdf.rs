//! PDF: an A4 landscape table for people to read and print, drawn with `krilla`.
//!
//! The first page opens with the report's title, account, filters and time; every page repeats
//! the column header and ends with a footer ("title — account" and "Page N"; a total page count
//! would need every row before the first page, which streaming rules out). Each row is one line:
//! a cell wider than its column is cut at a character boundary and ends with "…". The full
//! values are in the CSV/XLSX exports of the same report.
//!
//! Column widths come from [`Exporter::with_widths`](crate::Exporter::with_widths) when given,
//! else from the header and the first [`SAMPLE_ROWS`] rows: a column that needs less than its
//! fair share gets what it needs, the rest share what is left.
//!
//! Text is shaped with HarfRust (accents, ligatures, right-to-left scripts) in DejaVu Sans
//! Condensed, embedded (subset) from `fonts/`; a character the font lacks, such as most emoji,
//! shows as the font's empty box but still copies out as the right character.
//!
//! Memory: rows are held only until their page is drawn. krilla keeps each finished page's
//! compressed content until [`PdfSink::finish`] assembles the file in memory and writes it out,
//! so memory grows with the output size (measured in `bench/export.sh`). The PDF is not tagged:
//! a tagged table made the files about fifteen times larger (ECOSYSTEM.md).

use std::borrow::Cow;
use std::io::Write;
use std::sync::OnceLock;

use harfrust::{
    Direction, FontRef, Script, ShapeOptions, ShapePlan, Shaper, ShaperData, UnicodeBuffer,
};
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use krilla::{Document, SerializeSettings};

use crate::{ExportError, Meta};

const REGULAR_TTF: &[u8] = include_bytes!("../fonts/DejaVuSansCondensed.ttf");
const BOLD_TTF: &[u8] = include_bytes!("../fonts/DejaVuSansCondensed-Bold.ttf");
/// HarfRust's tables and caches for each font, read once per process. A `Shaper` borrows its
/// `ShaperData`, so keeping them in statics lets each [`StyledFont`] hold its shaper.
static REGULAR_SHAPING: OnceLock<ShaperData> = OnceLock::new();
static BOLD_SHAPING: OnceLock<ShaperData> = OnceLock::new();

// Geometry, in PDF points (1/72 inch). A4 landscape.
const PAGE_W: f32 = 841.89;
const PAGE_H: f32 = 595.28;
const MARGIN: f32 = 36.0;
const TABLE_W: f32 = PAGE_W - 2.0 * MARGIN;
/// The lowest a table row may reach; the footer sits below it.
const TABLE_BOTTOM: f32 = PAGE_H - MARGIN;
const FOOTER_BASELINE: f32 = PAGE_H - 20.0;

const TITLE_SIZE: f32 = 16.0;
const META_SIZE: f32 = 9.0;
const META_LINE: f32 = 13.0;
const CELL_SIZE: f32 = 8.5;
const FOOTER_SIZE: f32 = 7.5;
const HEADER_H: f32 = 17.0;
const ROW_H: f32 = 13.0;
/// Space left and right of the text inside a cell.
const PAD: f32 = 4.0;
/// Distance from a row's top to its text baseline.
const BASELINE_IN_ROW: f32 = 9.5;
/// Distance from the header row's top to its text baseline.
const BASELINE_IN_HEADER: f32 = 11.5;

/// Rows read before the column widths are fixed (when the caller gave none).
pub(crate) const SAMPLE_ROWS: usize = 50;

const INK: (u8, u8, u8) = (0x22, 0x22, 0x22);
const MUTED: (u8, u8, u8) = (0x66, 0x66, 0x66);
const HEADER_FILL: (u8, u8, u8) = (0xE7, 0xE6, 0xE6);
const ZEBRA_FILL: (u8, u8, u8) = (0xF5, 0xF5, 0xF5);
const RULE_FILL: (u8, u8, u8) = (0x99, 0x99, 0x99);

const ELLIPSIS: &str = "…";

pub(crate) struct PdfSink<W: Write> {
    out: W,
    doc: Document,
    typesetter: Typesetter,
    meta: Meta,
    columns: Vec<String>,
    relative: Option<Vec<f32>>,
    /// Fixed once the first page is drawn (or the sample is full).
    layout: Option<Layout>,
    /// Rows not drawn yet: the sample, then the current page's rows.
    pending: Vec<Vec<String>>,
    pages: u32,
}

/// Where the columns go, fixed for the whole document.
struct Layout {
    /// Each column's width in points, padding included; they add up to [`TABLE_W`].
    widths: Vec<f32>,
}

impl<W: Write> PdfSink<W> {
    pub(crate) fn new(meta: &Meta, columns: &[&str], out: W) -> Result<Self, ExportError> {
        let settings = SerializeSettings {
            enable_tagging: false,
            ..SerializeSettings::default()
        };
        let mut doc = Document::new_with(settings);
        let description = format!(
            "Account: {}. Filters: {}. Generated {}.",
            meta.account,
            meta.filters_line(),
            meta.generated_at
        );
        doc.set_metadata(
            Metadata::new()
                .title(meta.title.clone())
                .description(description)
                .authors(vec![meta.account.clone()])
                .creator("stoplist".to_owned()),
        );
        Ok(PdfSink {
            out,
            doc,
            typesetter: Typesetter::new()?,
            meta: meta.clone(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            relative: None,
            layout: None,
            pending: Vec::new(),
            pages: 0,
        })
    }

    pub(crate) fn set_widths(&mut self, relative: &[f32]) {
        self.relative = Some(relative.to_vec());
    }

    pub(crate) fn row(&mut self, cells: &[&str]) -> Result<(), ExportError> {
        self.pending
            .push(cells.iter().map(|c| (*c).to_owned()).collect());
        if self.layout.is_none() && (self.relative.is_some() || self.pending.len() >= SAMPLE_ROWS) {
            self.fix_layout();
        }
        if self.layout.is_some() {
            while self.pending.len() > self.capacity(self.pages) {
                self.draw_next_page(false);
            }
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<W, ExportError> {
        if self.layout.is_none() {
            self.fix_layout();
        }
        while self.pending.len() > self.capacity(self.pages) {
            self.draw_next_page(false);
        }
        if !self.pending.is_empty() || self.pages == 0 {
            self.draw_next_page(true);
        }
        let bytes = self
            .doc
            .finish()
            .map_err(|error| ExportError::Pdf(error.to_string()))?;
        self.out.write_all(&bytes)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// How many rows fit on the page with this zero-based index.
    fn capacity(&self, page_index: u32) -> usize {
        let top = table_top(page_index == 0);
        // Truncation is intended: only whole rows fit.
        (((TABLE_BOTTOM - top - HEADER_H) / ROW_H).floor() as usize).max(1)
    }

    fn fix_layout(&mut self) {
        let widths = match &self.relative {
            Some(relative) => {
                let total: f32 = relative.iter().sum();
                relative.iter().map(|w| TABLE_W * w / total).collect()
            }
            None => {
                let natural: Vec<f32> = (0..self.columns.len())
                    .map(|col| {
                        let header =
                            self.typesetter
                                .width(Style::Bold, &self.columns[col], CELL_SIZE);
                        self.pending
                            .iter()
                            .map(|row| self.typesetter.width(Style::Regular, &row[col], CELL_SIZE))
                            .fold(header, f32::max)
                            + 2.0 * PAD
                    })
                    .collect();
                share_width(&natural, TABLE_W)
            }
        };
        self.layout = Some(Layout { widths });
    }

    /// Draws the next page with as many pending rows as fit; `last` marks the final page, which
    /// says so when the export has no rows at all.
    fn draw_next_page(&mut self, last: bool) {
        let Some(layout) = &self.layout else {
            return;
        };
        let first = self.pages == 0;
        let take = self.capacity(self.pages).min(self.pending.len());
        let rows: Vec<Vec<String>> = self.pending.drain(..take).collect();
        self.pages += 1;

        let Some(settings) = PageSettings::from_wh(PAGE_W, PAGE_H) else {
            return;
        };
        let mut page = self.doc.start_page_with(settings);
        let mut surface = page.surface();
        let ts = &mut self.typesetter;
        let mut y = MARGIN;
        if first {
            y = draw_heading(&mut surface, ts, &self.meta);
        }
        draw_header(&mut surface, ts, layout, &self.columns, y);
        y += HEADER_H;
        for (index, row) in rows.iter().enumerate() {
            if index % 2 == 1 {
                surface.set_fill(Some(fill(ZEBRA_FILL)));
                draw_rect(&mut surface, MARGIN, y, TABLE_W, ROW_H);
            }
            surface.set_fill(Some(fill(INK)));
            let mut x = MARGIN;
            for (cell, width) in row.iter().zip(&layout.widths) {
                ts.draw(
                    &mut surface,
                    Style::Regular,
                    CELL_SIZE,
                    cell,
                    x + PAD,
                    y + BASELINE_IN_ROW,
                    width - 2.0 * PAD,
                );
                x += width;
            }
            y += ROW_H;
        }
        if last && first && rows.is_empty() {
            surface.set_fill(Some(fill(MUTED)));
            ts.draw(
                &mut surface,
                Style::Regular,
                CELL_SIZE,
                "No rows match this report.",
                MARGIN + PAD,
                y + BASELINE_IN_ROW,
                TABLE_W,
            );
        }
        draw_footer(&mut surface, ts, &self.meta, self.pages);
        surface.finish();
        page.finish();
    }
}

/// The y of the table's top edge on the first page (below the heading) or on the others.
fn table_top(first_page: bool) -> f32 {
    if first_page {
        MARGIN + TITLE_SIZE + 6.0 + 3.0 * META_LINE + 10.0
    } else {
        MARGIN
    }
}

/// Draws the title, account, filters and time; returns the y where the table starts.
fn draw_heading(surface: &mut Surface<'_>, ts: &mut Typesetter, meta: &Meta) -> f32 {
    surface.set_fill(Some(fill(INK)));
    let mut baseline = MARGIN + TITLE_SIZE;
    ts.draw(
        surface,
        Style::Bold,
        TITLE_SIZE,
        &meta.title,
        MARGIN,
        baseline,
        TABLE_W,
    );
    baseline += 6.0;
    let lines = [
        ("Account", meta.account.clone()),
        ("Filters", meta.filters_line()),
        ("Generated", meta.generated_at.clone()),
    ];
    let label_w = 60.0;
    for (label, value) in lines {
        baseline += META_LINE;
        surface.set_fill(Some(fill(MUTED)));
        ts.draw(
            surface,
            Style::Bold,
            META_SIZE,
            label,
            MARGIN,
            baseline,
            label_w,
        );
        surface.set_fill(Some(fill(INK)));
        ts.draw(
            surface,
            Style::Regular,
            META_SIZE,
            &value,
            MARGIN + label_w,
            baseline,
            TABLE_W - label_w,
        );
    }
    table_top(true)
}

/// Draws the column header row with its top edge at `y`.
fn draw_header(
    surface: &mut Surface<'_>,
    ts: &mut Typesetter,
    layout: &Layout,
    columns: &[String],
    y: f32,
) {
    surface.set_fill(Some(fill(HEADER_FILL)));
    draw_rect(surface, MARGIN, y, TABLE_W, HEADER_H);
    surface.set_fill(Some(fill(RULE_FILL)));
    draw_rect(surface, MARGIN, y + HEADER_H - 0.6, TABLE_W, 0.6);
    surface.set_fill(Some(fill(INK)));
    let mut x = MARGIN;
    for (name, width) in columns.iter().zip(&layout.widths) {
        ts.draw(
            surface,
            Style::Bold,
            CELL_SIZE,
            name,
            x + PAD,
            y + BASELINE_IN_HEADER,
            width - 2.0 * PAD,
        );
        x += width;
    }
}

fn draw_footer(surface: &mut Surface<'_>, ts: &mut Typesetter, meta: &Meta, page: u32) {
    surface.set_fill(Some(fill(MUTED)));
    let label = format!("Page {page}");
    let label_w = ts.width(Style::Regular, &label, FOOTER_SIZE);
    ts.draw(
        surface,
        Style::Regular,
        FOOTER_SIZE,
        &label,
        PAGE_W - MARGIN - label_w,
        FOOTER_BASELINE,
        label_w + 1.0,
    );
    let left = if meta.account.is_empty() {
        meta.title.clone()
    } else {
        format!("{} — {}", meta.title, meta.account)
    };
    ts.draw(
        surface,
        Style::Regular,
        FOOTER_SIZE,
        &left,
        MARGIN,
        FOOTER_BASELINE,
        TABLE_W - label_w - 20.0,
    );
}

/// Splits `total` among columns that would like `natural` widths: if all fit, each gets its
/// natural width and the spare space is spread in proportion; otherwise a column narrower than
/// an even share of what is left gets its natural width, and the wide columns split the rest.
fn share_width(natural: &[f32], total: f32) -> Vec<f32> {
    let wanted: f32 = natural.iter().sum();
    if wanted <= total {
        let scale = if wanted > 0.0 { total / wanted } else { 1.0 };
        return natural.iter().map(|w| w * scale).collect();
    }
    let mut widths = vec![0.0; natural.len()];
    let mut open: Vec<usize> = (0..natural.len()).collect();
    let mut left = total;
    loop {
        let share = left / open.len() as f32;
        let (narrow, wide): (Vec<usize>, Vec<usize>) =
            open.iter().partition(|&&col| natural[col] <= share);
        if narrow.is_empty() || wide.is_empty() {
            for col in open {
                widths[col] = if narrow.is_empty() {
                    share
                } else {
                    natural[col]
                };
            }
            return widths;
        }
        for col in narrow {
            widths[col] = natural[col];
            left -= natural[col];
        }
        open = wide;
    }
}

fn fill((r, g, b): (u8, u8, u8)) -> Fill {
    Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

fn draw_rect(surface: &mut Surface<'_>, x: f32, y: f32, w: f32, h: f32) {
    let mut path = PathBuilder::new();
    if let Some(rect) = Rect::from_xywh(x, y, w, h) {
        path.push_rect(rect);
    }
    if let Some(path) = path.finish() {
        surface.draw_path(&path);
    }
}

#[derive(Clone, Copy)]
enum Style {
    Regular,
    Bold,
}

/// A font as krilla embeds it and as HarfRust shapes it, with cached shaping plans.
struct StyledFont {
    pdf: Font,
    shaper: Shaper<'static>,
    /// One plan per (direction, script) seen; building a plan costs more than shaping a cell.
    plans: Vec<(Direction, Script, ShapePlan)>,
    /// The "…" glyph and its advance in em.
    ellipsis: (GlyphId, f32),
}

/// Shaped text ready to draw: the text the glyphs map back to, the glyphs, the width in em.
struct Shaped<'a> {
    text: Cow<'a, str>,
    glyphs: Vec<KrillaGlyph>,
    width_em: f32,
    left_to_right: bool,
}

/// Shapes, measures, cuts and draws single lines of text.
struct Typesetter {
    regular: StyledFont,
    bold: StyledFont,
    /// Reused between calls to avoid an allocation per cell.
    buffer: Option<UnicodeBuffer>,
}

impl Typesetter {
    fn new() -> Result<Self, ExportError> {
        let mut buffer = Some(UnicodeBuffer::new());
        let regular = StyledFont::new(REGULAR_TTF, &REGULAR_SHAPING, &mut buffer)?;
        let bold = StyledFont::new(BOLD_TTF, &BOLD_SHAPING, &mut buffer)?;
        Ok(Typesetter {
            regular,
            bold,
            buffer,
        })
    }

    fn font(&mut self, style: Style) -> &mut StyledFont {
        match style {
            Style::Regular => &mut self.regular,
            Style::Bold => &mut self.bold,
        }
    }

    /// The width of `text` in points at `size`, on one line.
    fn width(&mut self, style: Style, text: &str, size: f32) -> f32 {
        let mut buffer = self.buffer.take();
        let shaped = self.font(style).shape(one_line(text), &mut buffer);
        self.buffer = buffer;
        shaped.width_em * size
    }

    /// Draws `text` on one line with its baseline starting at (`x`, `baseline`), cut with "…"
    /// to at most `max_width` points.
    #[allow(clippy::too_many_arguments)] // Each is a plain coordinate or size of one draw call.
    fn draw(
        &mut self,
        surface: &mut Surface<'_>,
        style: Style,
        size: f32,
        text: &str,
        x: f32,
        baseline: f32,
        max_width: f32,
    ) {
        if text.is_empty() || max_width <= 0.0 {
            return;
        }
        let mut buffer = self.buffer.take();
        // A field borrow (not `self.font`) so that `self.buffer` stays free to put back.
        let font = match style {
            Style::Regular => &mut self.regular,
            Style::Bold => &mut self.bold,
        };
        let shaped = font.shape(one_line(text), &mut buffer);
        let shaped = if shaped.width_em * size <= max_width {
            shaped
        } else {
            font.cut(shaped, max_width / size, &mut buffer)
        };
        self.buffer = buffer;
        if !shaped.glyphs.is_empty() {
            surface.draw_glyphs(
                Point::from_xy(x, baseline),
                &shaped.glyphs,
                font.pdf.clone(),
                &shaped.text,
                size,
                false,
            );
        }
    }
}

impl StyledFont {
    fn new(
        data: &'static [u8],
        shaping: &'static OnceLock<ShaperData>,
        buffer: &mut Option<UnicodeBuffer>,
    ) -> Result<Self, ExportError> {
        let unreadable = || ExportError::Pdf("the bundled font could not be read".to_owned());
        let pdf = Font::new(data.into(), 0).ok_or_else(unreadable)?;
        let face = FontRef::new(data).map_err(|_| unreadable())?;
        let shaper = shaping
            .get_or_init(|| ShaperData::new(&face))
            .shaper(&face)
            .build();
        let mut font = StyledFont {
            pdf,
            shaper,
            plans: Vec::new(),
            ellipsis: (GlyphId::new(0), 0.0),
        };
        let shaped = font.shape(ELLIPSIS.into(), buffer);
        if let Some(glyph) = shaped.glyphs.first() {
            font.ellipsis = (glyph.glyph_id, shaped.width_em);
        }
        Ok(font)
    }

    fn shape<'a>(&mut self, text: Cow<'a, str>, buffer: &mut Option<UnicodeBuffer>) -> Shaped<'a> {
        let mut unicode = buffer.take().unwrap_or_default();
        unicode.push_str(&text);
        unicode.guess_segment_properties();
        let direction = unicode.direction();
        let script = unicode.script();
        let plan_at = match self
            .plans
            .iter()
            .position(|(d, s, _)| *d == direction && *s == script)
        {
            Some(at) => at,
            None => {
                let plan = ShapePlan::new(&self.shaper, direction, Some(script), None, &[]);
                self.plans.push((direction, script, plan));
                self.plans.len() - 1
            }
        };
        let plan = &self.plans[plan_at].2;
        let output = self
            .shaper
            .shape(unicode, ShapeOptions::new().plan(Some(plan)));
        let units = self.pdf.units_per_em();
        let infos = output.glyph_infos();
        let positions = output.glyph_positions();
        let left_to_right = matches!(direction, Direction::LeftToRight | Direction::TopToBottom);
        let mut glyphs = Vec::with_capacity(infos.len());
        let mut width_em = 0.0;
        for (i, (info, pos)) in infos.iter().zip(positions).enumerate() {
            let start = info.cluster as usize;
            // The cluster ends where the next cluster in reading order starts (krilla's own
            // `naive_shape` does the same); glyphs run backwards in right-to-left text.
            let end = if left_to_right {
                infos[i..]
                    .iter()
                    .find(|next| next.cluster != info.cluster)
                    .map_or(text.len(), |next| next.cluster as usize)
            } else {
                infos[..i]
                    .iter()
                    .rev()
                    .find(|next| next.cluster != info.cluster)
                    .map_or(text.len(), |next| next.cluster as usize)
            };
            let advance = pos.x_advance as f32 / units;
            width_em += advance;
            glyphs.push(KrillaGlyph::new(
                GlyphId::new(info.glyph_id),
                advance,
                pos.x_offset as f32 / units,
                pos.y_offset as f32 / units,
                pos.y_advance as f32 / units,
                start..end,
                None,
            ));
        }
        *buffer = Some(output.clear());
        Shaped {
            text,
            glyphs,
            width_em,
            left_to_right,
        }
    }

    /// Cuts shaped text to at most `max_em` wide, ending with "…" (or nothing if even that does
    /// not fit).
    fn cut<'a>(
        &mut self,
        shaped: Shaped<'a>,
        max_em: f32,
        buffer: &mut Option<UnicodeBuffer>,
    ) -> Shaped<'a> {
        let (ellipsis_id, ellipsis_em) = self.ellipsis;
        let budget = max_em - ellipsis_em;
        if budget < 0.0 {
            return Shaped {
                text: Cow::Borrowed(""),
                glyphs: Vec::new(),
                width_em: 0.0,
                left_to_right: true,
            };
        }
        if shaped.left_to_right {
            // Keep whole clusters from the start while they fit, then add the ellipsis glyph.
            let mut keep = 0;
            let mut cut = 0;
            let mut x = 0.0;
            for (i, glyph) in shaped.glyphs.iter().enumerate() {
                let starts_cluster =
                    i == 0 || glyph.text_range.start != shaped.glyphs[i - 1].text_range.start;
                if starts_cluster {
                    if x > budget {
                        break;
                    }
                    keep = i;
                    cut = glyph.text_range.start;
                }
                x += glyph.x_advance;
            }
            let mut glyphs = shaped.glyphs;
            glyphs.truncate(keep);
            // Drop trailing spaces so the ellipsis follows the last word.
            let head = shaped.text[..cut].trim_end();
            if head.len() < cut {
                glyphs.retain(|g| g.text_range.end <= head.len());
            }
            let cut = head.len();
            let width_em = glyphs.iter().map(|g| g.x_advance).sum::<f32>() + ellipsis_em;
            glyphs.push(KrillaGlyph::new(
                ellipsis_id,
                ellipsis_em,
                0.0,
                0.0,
                0.0,
                cut..cut + ELLIPSIS.len(),
                None,
            ));
            let text = format!("{head}{ELLIPSIS}");
            return Shaped {
                text: Cow::Owned(text),
                glyphs,
                width_em,
                left_to_right: true,
            };
        }
        // Right-to-left: glyphs are in visual order, so find the longest start of the text
        // that fits together with the ellipsis by shaping candidates (binary search).
        let text = shaped.text;
        let ends: Vec<usize> = text
            .char_indices()
            .map(|(at, _)| at)
            .skip(1)
            .chain([text.len()])
            .collect();
        // The largest n such that the first n characters and "…" fit; n = 0 always fits.
        let (mut lo, mut hi) = (0, ends.len());
        let mut best = None;
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let candidate = format!("{}{ELLIPSIS}", text[..ends[mid - 1]].trim_end());
            let attempt = self.shape(Cow::Owned(candidate), buffer);
            if attempt.width_em <= max_em {
                lo = mid;
                best = Some(attempt);
            } else {
                hi = mid - 1;
            }
        }
        best.unwrap_or_else(|| self.shape(Cow::Borrowed(ELLIPSIS), buffer))
    }
}

/// Text fit for one line: control characters (tabs, line breaks) become spaces.
fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn narrow_columns_keep_their_width_and_wide_ones_share_the_rest() {
        let widths = share_width(&[50.0, 400.0, 600.0, 60.0], 700.0);
        assert_eq!(widths[0], 50.0);
        assert_eq!(widths[3], 60.0);
        assert!((widths[1] - 295.0).abs() < 0.01);
        assert!((widths[2] - 295.0).abs() < 0.01);
    }

    #[test]
    fn columns_that_fit_are_stretched_to_the_table_width() {
        let widths = share_width(&[100.0, 300.0], 800.0);
        assert_eq!(widths, vec![200.0, 600.0]);
    }

    #[test]
    fn a_long_cell_is_cut_to_its_width_with_an_ellipsis() {
        let mut ts = Typesetter::new().unwrap();
        let mut buffer = None;
        let text = "Thanks but please remove me from this list, José";
        let shaped = ts.regular.shape(text.into(), &mut buffer);
        let max_em = shaped.width_em / 2.0;
        let cut = ts.regular.cut(shaped, max_em, &mut buffer);
        assert!(cut.text.ends_with('…'), "{}", cut.text);
        assert!(cut.text.len() < text.len());
        assert!(cut.width_em <= max_em);
        assert!(text.starts_with(cut.text.trim_end_matches('…')));
        let last = cut.glyphs.last().unwrap();
        assert_eq!(&cut.text[last.text_range.clone()], "…");
    }

    #[test]
    fn right_to_left_text_is_cut_from_its_logical_start() {
        let mut ts = Typesetter::new().unwrap();
        let mut buffer = None;
        let text = "שלום עולם ותודה רבה על ההודעה";
        let shaped = ts.regular.shape(text.into(), &mut buffer);
        assert!(!shaped.left_to_right);
        let max_em = shaped.width_em / 2.0;
        let cut = ts.regular.cut(shaped, max_em, &mut buffer);
        assert!(cut.width_em <= max_em);
        assert!(text.starts_with(cut.text.trim_end_matches('…').trim_end()));
    }

    #[test]
    fn line_breaks_and_tabs_become_spaces() {
        assert_eq!(one_line("a\r\nb\tc"), "a  b c");
    }
}
