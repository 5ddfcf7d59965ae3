"""Renderers: each turns the one `StudyResults` object into an output; none recomputes."""
