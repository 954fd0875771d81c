"""Data: readers, validation, splits."""
from ecomtune.data.prepare import PreparedData, Split, prepare_data, summarize
from ecomtune.data.readers import read_table

__all__ = ["PreparedData", "Split", "prepare_data", "read_table", "summarize"]
