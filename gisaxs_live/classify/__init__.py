"""The CNN and its runtime: the only package that imports TensorFlow, and only lazily."""
