"""Triangular prism standing on the substrate: an equilateral triangle of circumscribed diameter D_y
(edge D_y·√3/2), height D_z; its in-plane orientation is averaged over."""

from ._prism import prism

shape = prism(3, __doc__.strip())
form_factor = shape.form_factor
