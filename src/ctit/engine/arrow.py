"""Tables between pandas and the engines, through Arrow: one typing for every engine."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

# Types follow the schema, never the values: a float column of whole numbers stays float.
_NULLABLE = {pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
             pa.int64(): pd.Int64Dtype(), pa.float32(): pd.Float64Dtype(), pa.float64(): pd.Float64Dtype(),
             pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}


def arrow_table(df: pd.DataFrame) -> pa.Table:
    """A canonical table as Arrow: engines disagree on pandas' nullable types, Arrow doesn't."""
    return pa.Table.from_pandas(df, preserve_index=False)


def to_pandas(data: pa.Table) -> pd.DataFrame:
    """A result as pandas with nullable dtypes. Spark types literal arithmetic as DECIMAL where
    DuckDB uses DOUBLE; results are doubles either way."""
    schema = pa.schema([f.with_type(pa.float64()) if pa.types.is_decimal(f.type) else f for f in data.schema])
    return data.cast(schema).to_pandas(types_mapper=_NULLABLE.get)
