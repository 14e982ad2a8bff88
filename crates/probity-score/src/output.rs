//! Scores as Parquet: one row per person and date, the largest
//! contributions as a list of structs, written a row group at a time so the
//! file is never held in memory whole (a Met-sized trajectory run is about
//! a million rows; as JSON lines it was 1.2 GB).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, ListBuilder, StringBuilder, StructBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::run::Score;
use crate::{Error, Result};

/// Scores per row group.
const ROWS_PER_GROUP: usize = 64 * 1024;

fn contribution_fields() -> Fields {
    Fields::from(vec![
        Field::new("feature", DataType::Utf8, false),
        Field::new("words", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("contribution", DataType::Float64, false),
    ])
}

/// The schema of `scores.parquet`.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Utf8, false),
        Field::new("as_of", DataType::Date32, false),
        Field::new("probability", DataType::Float64, false),
        Field::new("log_odds", DataType::Float64, false),
        Field::new("percentile", DataType::Float64, false),
        Field::new("baseline", DataType::Float64, false),
        Field::new(
            "top",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(contribution_fields()),
                true,
            ))),
            false,
        ),
        Field::new("summary", DataType::Utf8, false),
        Field::new("method", DataType::Utf8, false),
    ]))
}

/// Writes `scores` (in their order) to a new Parquet file at `path`.
/// Returns the rows written.
pub fn write_scores(path: &Path, scores: &[Score]) -> Result<u64> {
    let mut w = ScoresWriter::create(path)?;
    w.write(scores)?;
    w.finish()
}

/// `scores.parquet` written a chunk of scores at a time.
pub struct ScoresWriter {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    path: std::path::PathBuf,
    rows: u64,
}

impl ScoresWriter {
    /// Creates the file.
    pub fn create(path: &Path) -> Result<ScoresWriter> {
        let file = File::create(path).map_err(|e| output_error(path, &e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("valid level"),
            ))
            .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
            .build();
        let schema = schema();
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))
            .map_err(|e| output_error(path, &e))?;
        Ok(ScoresWriter {
            writer,
            schema,
            path: path.to_path_buf(),
            rows: 0,
        })
    }

    /// Appends scores, in their order.
    pub fn write(&mut self, scores: &[Score]) -> Result<()> {
        for chunk in scores.chunks(ROWS_PER_GROUP) {
            let batch = to_batch(&self.schema, chunk).map_err(|e| output_error(&self.path, &e))?;
            self.writer
                .write(&batch)
                .map_err(|e| output_error(&self.path, &e))?;
        }
        self.rows += scores.len() as u64;
        Ok(())
    }

    /// Closes the file; returns the rows written.
    pub fn finish(self) -> Result<u64> {
        self.writer
            .close()
            .map_err(|e| output_error(&self.path, &e))?;
        Ok(self.rows)
    }
}

fn output_error(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn to_batch(schema: &SchemaRef, scores: &[Score]) -> std::result::Result<RecordBatch, String> {
    let mut person = StringBuilder::new();
    let mut as_of = Date32Builder::new();
    let mut f = [
        Float64Builder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
    ];
    let mut top = ListBuilder::new(StructBuilder::from_fields(contribution_fields(), 0))
        .with_field(Arc::new(Field::new(
            "item",
            DataType::Struct(contribution_fields()),
            true,
        )));
    let mut summary = StringBuilder::new();
    let mut method = StringBuilder::new();
    for s in scores {
        person.append_value(&s.person_id);
        let day: jiff::civil::Date = s
            .as_of
            .parse()
            .map_err(|e| format!("as_of {:?}: {e}", s.as_of))?;
        as_of.append_value(probity_core::time::date_to_days(day));
        for (b, v) in f
            .iter_mut()
            .zip([s.probability, s.log_odds, s.percentile, s.baseline])
        {
            b.append_value(v);
        }
        let items = top.values();
        for c in &s.top {
            items
                .field_builder::<StringBuilder>(0)
                .expect("feature")
                .append_value(&c.feature);
            items
                .field_builder::<StringBuilder>(1)
                .expect("words")
                .append_value(&c.words);
            items
                .field_builder::<Float64Builder>(2)
                .expect("value")
                .append_value(c.value);
            items
                .field_builder::<Float64Builder>(3)
                .expect("contribution")
                .append_value(c.contribution);
            items.append(true);
        }
        top.append(true);
        summary.append_value(&s.summary);
        method.append_value(s.method);
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(person.finish()), Arc::new(as_of.finish())];
    columns.extend(f.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(top.finish()));
    columns.push(Arc::new(summary.finish()));
    columns.push(Arc::new(method.finish()));
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| e.to_string())
}
