"""Detector frame → model input: geometry, masking, regridding onto the canonical q-grid, log scaling."""
