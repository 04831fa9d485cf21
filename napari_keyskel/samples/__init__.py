"""Synthetic sample data: the moving figure, a camera rig, textures."""
