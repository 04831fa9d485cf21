"""The core model and its maths: skeleton, annotation store, keyframes, interpolation, history.

Imports neither Qt nor napari, and no file format.
"""
