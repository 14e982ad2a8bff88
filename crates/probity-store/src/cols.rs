//! Reading the columns of a query result by name, whatever Arrow encoding
//! the engine chose (dictionary, view or plain strings; any integer width).
//!
//! These are for results of the project's own queries, whose shape the
//! caller wrote: a missing column is a bug, and they panic saying which.

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Date32Type, TimeUnit};

fn cast(b: &RecordBatch, name: &str, to: &DataType) -> ArrayRef {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("query result has no column {name} (this is a bug)"));
    if c.data_type() == to {
        c.clone()
    } else {
        arrow::compute::cast(c, to).unwrap_or_else(|e| panic!("column {name}: {e} (this is a bug)"))
    }
}

/// A text column (any string encoding).
pub fn strs(b: &RecordBatch, name: &str) -> StringArray {
    cast(b, name, &DataType::Utf8).as_string::<i32>().clone()
}

/// A date column (days since the epoch).
pub fn dates(b: &RecordBatch, name: &str) -> Date32Array {
    cast(b, name, &DataType::Date32)
        .as_primitive::<Date32Type>()
        .clone()
}

/// A timestamp column in microseconds since the epoch (UTC).
pub fn micros(b: &RecordBatch, name: &str) -> TimestampMicrosecondArray {
    cast(
        b,
        name,
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    )
    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
    .clone()
}

/// An integer column.
pub fn ints(b: &RecordBatch, name: &str) -> Int64Array {
    cast(b, name, &DataType::Int64)
        .as_primitive::<arrow::datatypes::Int64Type>()
        .clone()
}

/// A float column.
pub fn floats(b: &RecordBatch, name: &str) -> Float64Array {
    cast(b, name, &DataType::Float64)
        .as_primitive::<arrow::datatypes::Float64Type>()
        .clone()
}

/// An optional string value.
pub fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

/// An optional value of a primitive column.
pub fn opt<T: arrow::datatypes::ArrowPrimitiveType>(
    a: &arrow::array::PrimitiveArray<T>,
    i: usize,
) -> Option<T::Native> {
    (!a.is_null(i)).then(|| a.value(i))
}
