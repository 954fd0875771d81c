"""Retrieval pieces shared by recommendation, search and the shopping guide: vector indexes and ranking metrics."""
