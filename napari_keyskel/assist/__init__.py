"""Assistance: review flags and states, model proposals, propagation, matching."""
