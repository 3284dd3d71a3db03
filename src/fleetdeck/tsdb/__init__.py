"""Time series: samples derived from snapshots, a compact store with rollups and retention."""
