"""Hexagonal prism standing on the substrate: a regular hexagon of circumscribed diameter D_y
(edge D_y/2), height D_z; its in-plane orientation is averaged over."""

from ._prism import prism

shape = prism(6, __doc__.strip())
form_factor = shape.form_factor
