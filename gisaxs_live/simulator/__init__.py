"""The bundled GISAXS simulator: DWBA form factors of supported islands, Percus–Yevick or paracrystal
interference in the decoupling or the local monodisperse approximation, and log-normal (or Gaussian, Schulz)
size distributions, on the model's canonical q-grid."""

#: 1.1: conjugated Fresnel coefficients in the DWBA terms; 1.2: the local monodisperse approximation
#: (``Structure.approximation``) and the training randomisation that draws it (the default patterns are unchanged);
#: 1.3: converged quadratures (size nodes at most ``Simulation.size_step`` apart, 24 orientations, z nodes growing
#: with q_z × height) and the Schulz distribution at its stated FWHM: up to tens of grey levels on broad size
#: distributions, tall particles and triangular prisms; 1.4: a whole period's orientation average taken about
#: azimuth 0, whatever the azimuth (the same average, its nodes in mirror pairs: the ellipsoid's patterns in half the
#: time, at the default 24 orientations within a grey level of 1.3's), mirror pairs evaluated once on the fast path,
#: and the foreign cone and pyramid on the fast path (their frames as before to 1e-10 of the peak, 6-7 times faster);
#: since, without a new version: the foreign core-shell spheres on the fast path too, as stacked discs (their frames
#: as before to 5e-9 of the peak, 5 times faster; a set of 1.4 from before is the same set)
SIMULATOR_VERSION = "1.4"
