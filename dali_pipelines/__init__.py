"""DALI pipeline definitions and their NumPy/OpenCV reference (no Lightning imports)."""
