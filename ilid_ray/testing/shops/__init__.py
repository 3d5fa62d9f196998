"""The real-markup corpus of product pages (see corpus.py)."""
