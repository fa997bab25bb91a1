"""The standalone EE-559 submission. `model.py` is copied verbatim into Miniproject_1/ by
`python -m n2n_utils export-course OUT_DIR` (see n2n_utils/course.py); it may import only
torch and the standard library."""
