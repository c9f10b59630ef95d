"""The bundled GISAXS simulator: DWBA form factors of supported islands, Percus–Yevick or paracrystal
interference in the decoupling or the local monodisperse approximation, and log-normal (or Gaussian, Schulz)
size distributions, on the model's canonical q-grid."""

#: 1.1: conjugated Fresnel coefficients in the DWBA terms; 1.2: the local monodisperse approximation
#: (``Structure.approximation``) and the training randomisation that draws it (the default patterns are unchanged)
SIMULATOR_VERSION = "1.2"
