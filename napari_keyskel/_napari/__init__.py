"""napari glue: layer data, reader/writer/sample hooks. Imports napari lazily where it can."""
