"""Multi-view and 3D: camera calibration, triangulation, views of one scene."""
