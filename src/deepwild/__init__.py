"""deepwild: deep learning in the wild, from raw pages to a trusted, explained, deployed model."""

__version__ = "0.1.0"
