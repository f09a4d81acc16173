"""Data: manifest splits, validation, the DALI data module and the baseline loader."""
