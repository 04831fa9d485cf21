"""Qt dock widgets of napari-keyskel."""
